//! AST -> canonical policy text.
pub(crate) fn format_file(_text: &str, _ast: &super::ast::File) -> String {
    String::new()
}
