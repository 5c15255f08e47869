//! The one integration-test binary. (`compile`/`golden` join once the checker lands.)

mod live;
