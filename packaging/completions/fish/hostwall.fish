# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hostwall_global_optspecs
    string join \n color= max-diagnostics= h/help V/version
end

function __fish_hostwall_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hostwall_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hostwall_using_subcommand
    set -l cmd (__fish_hostwall_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hostwall -n "__fish_hostwall_needs_command" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_needs_command" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_needs_command" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_needs_command" -s V -l version -d 'Print version'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "init" -d 'Write /etc/hostwall/host.policy and site.toml from a template, fitted to this host (sshd\'s ports, libvirt\'s bridges, forwarding)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "compile" -d 'Check a policy and print its nftables ruleset'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "check" -d 'Check a policy and print its diagnostics only (--live: and its conflicts with the host\'s other tables)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "fmt" -d 'Print a policy in canonical form (comments kept)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "verify" -d 'Prove the policy with real packets between two throwaway network namespaces (root)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "diff" -d 'Compare the live ruleset and forwarding sysctls with the policy (exit 0 in sync, 1 drift)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "explain" -d 'Explain one packet: each table\'s deciding rule on its path and the combined verdict'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "apply" -d 'Apply the policy to the kernel: one atomic batch, then the forwarding sysctls'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "confirm" -d 'Keep a change applied with `apply --confirm` (from any shell, ideally a new SSH session)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "status" -d 'Show a pending `apply --confirm` change and the time left (reverts a stale one), or how the last one ended'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "revert" -d 'Revert a pending `apply --confirm` change now'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "boot" -d 'Apply the policy at boot, falling back to the last known good or the built-in kvm-host policy (what hostwall.service runs)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "metrics" -d 'Print Prometheus metrics (node_exporter textfile format): sync, drift by kind, last apply, pending change, and the packets and bytes of every rule with `counter`'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "services" -d 'List the built-in service catalog (or one service): ports and where they come from'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "import" -d 'Write a hostwall policy from another firewall\'s configuration (firewalld)'
complete -c hostwall -n "__fish_hostwall_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hostwall -n "__fish_hostwall_using_subcommand init" -l template -d 'The shipped policy to start from' -r -f -a "kvm-host\t''
libvirt-nat\t''
migration-net\t''
minimal-host\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand init" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand init" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand init" -l force -d 'Replace host.policy and site.toml when they exist'
complete -c hostwall -n "__fish_hostwall_using_subcommand init" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand compile" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand compile" -l format -d 'Output form: nft script, or libnftables JSON' -r -f -a "nft\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand compile" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand compile" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand compile" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l netns -d 'With --live: read /run/netns/NAME instead of the current network namespace' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l format -d 'Output: diagnostics for people (standard error), or a JSON document (docs/json.md)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -l live -d 'Also read every table the kernel holds and report conflicts with the policy: traffic it allows that another table refuses, and the reverse (warnings)'
complete -c hostwall -n "__fish_hostwall_using_subcommand check" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -l format -d 'With --check: the answer as a JSON document (docs/json.md) instead of the exit code alone' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -l check -d 'Exit 1 when the file is not in canonical form; print nothing'
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -l write -d 'Rewrite the file in place'
complete -c hostwall -n "__fish_hostwall_using_subcommand fmt" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l against -d 'Load this nft ruleset in the throwaway host namespace instead of the policy\'s own (needs the `nft` program): shows whether a legacy ruleset does what the policy says' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l probes -d 'Send at most N probes: crossings of overlapping rules and boundaries first, then samples of each rule, then the port matrix (default 2000)' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l format -d 'Output: the table, a JSON document (docs/json.md), or JUnit XML for CI systems' -r -f -a "text\t''
json\t''
junit\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l netns -d 'With --with-live-tables: copy the tables of this network namespace instead' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l failures-only -d 'Show only the probes that failed (the summary still counts every probe)'
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l strict -d 'Fail (exit 1) also when probes were refused differently than the policy says (reject vs drop); by default only security failures and probe errors fail'
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l with-live-tables -d 'Copy the host\'s other tables (read-only: every table but the policy\'s) into the test namespace next to the policy\'s, and expect what they do together: a probe the policy allows but another table refuses fails, naming both rules'
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -l allow-partial -d 'With --with-live-tables: leave out what cannot be copied faithfully (flowtables, chains bound to devices the test lacks), named in the notes, instead of refusing'
complete -c hostwall -n "__fish_hostwall_using_subcommand verify" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l netns -d 'Compare inside /run/netns/NAME instead of the current network namespace' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l format -d 'Output: lines for people, or a JSON document for monitoring (docs/diff.md)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l full -d 'Always dump and compare, even when the recorded generation id says nothing changed'
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -l check -d 'Nagios/Icinga plugin output: one line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (docs/metrics.md says which drift is which)'
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -s v -l verbose -d 'List every set element that differs (by default: a count per set)'
complete -c hostwall -n "__fish_hostwall_using_subcommand diff" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l netns -d 'With --live: read /run/netns/NAME instead of the current network namespace' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l format -d 'Output: lines for people, or a JSON document' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -l live -d 'Judge against every table the kernel holds (ours as loaded), not the policy alone'
complete -c hostwall -n "__fish_hostwall_using_subcommand explain" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l netns -d 'Apply inside /run/netns/NAME instead of this host\'s namespace (the SSH lockout guard is skipped: it protects this host\'s own session)' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l confirm -d 'Revert after SECONDS unless `hostwall confirm` (or `y` at the prompt) keeps it' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l lkg-dir -d 'Keep what is applied as the last known good (what `hostwall boot` falls back to) in DIR. Default: /var/lib/hostwall, for an apply to PID 1\'s network namespace only' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l format -d 'Output: lines for people on stderr; json also prints one document on stdout (docs/json.md; --confirm then never prompts)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l dry-run -d 'Print what would be sent (and which sysctls would change); change nothing'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l persist -d 'Also write the forwarding setting to /etc/sysctl.d/90-hostwall.conf (with --confirm: once the change is confirmed)'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l force -d 'Apply even if the policy would reject the SSH session it is applied from'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l replace -d 'Send the table even when the live one already is the policy (by default such an apply sends nothing and says `unchanged (generation N)`)'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -l insecure-perms -d 'Skip the ownership/mode check of the policy and site files'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -s v -l verbose -d 'With --dry-run: also every element of a set change and each netlink message'
complete -c hostwall -n "__fish_hostwall_using_subcommand apply" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand confirm" -l netns -d 'The change pending in /run/netns/NAME (default: in the namespace this runs in)' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand confirm" -l format -d 'Output: lines for people, or one JSON document on stdout (docs/json.md)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand confirm" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand confirm" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand confirm" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand status" -l netns -d 'The change pending in /run/netns/NAME (default: in the namespace this runs in)' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand status" -l format -d 'Output: lines for people, or one JSON document on stdout (docs/json.md)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand status" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand status" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand status" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand revert" -l netns -d 'The change pending in /run/netns/NAME (default: in the namespace this runs in)' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand revert" -l format -d 'Output: lines for people, or one JSON document on stdout (docs/json.md)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand revert" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand revert" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand revert" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand boot" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand boot" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand boot" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand boot" -l insecure-perms -d 'Skip the ownership/mode check of the policy and site files (as `apply`\'s)'
complete -c hostwall -n "__fish_hostwall_using_subcommand boot" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -l site -d 'Site file (TOML) with this host\'s networks, interfaces and table name (default: /etc/hostwall/site.toml when it exists)' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -l netns -d 'Read inside /run/netns/NAME instead of the current network namespace' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -s o -l output -d 'Write to FILE atomically (a temporary file renamed over it), mode 0644, for node_exporter\'s textfile collector; default: standard output' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -l full -d 'Always dump and compare, even when the recorded generation id says nothing changed'
complete -c hostwall -n "__fish_hostwall_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand services" -l format -d 'Output format (json: docs/schema/services.schema.json)' -r -f -a "text\t''
json\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand services" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand services" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand services" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and not __fish_seen_subcommand_from firewalld help" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and not __fish_seen_subcommand_from firewalld help" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and not __fish_seen_subcommand_from firewalld help" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and not __fish_seen_subcommand_from firewalld help" -f -a "firewalld" -d 'firewalld\'s zones, policies, services and rich rules → a hostwall policy (exit 1 when something is not expressed: each is listed with its file:line:col)'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and not __fish_seen_subcommand_from firewalld help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from firewalld" -s o -l output -d 'Write the policy here instead of standard output' -r -F
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from firewalld" -l color -d 'When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from firewalld" -l max-diagnostics -d 'Print at most N errors and N warnings (the first in file order); the rest are counted in one line. 0 prints every diagnostic' -r
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from firewalld" -s h -l help -d 'Print help'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "firewalld" -d 'firewalld\'s zones, policies, services and rich rules → a hostwall policy (exit 1 when something is not expressed: each is listed with its file:line:col)'
complete -c hostwall -n "__fish_hostwall_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "init" -d 'Write /etc/hostwall/host.policy and site.toml from a template, fitted to this host (sshd\'s ports, libvirt\'s bridges, forwarding)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "compile" -d 'Check a policy and print its nftables ruleset'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "check" -d 'Check a policy and print its diagnostics only (--live: and its conflicts with the host\'s other tables)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "fmt" -d 'Print a policy in canonical form (comments kept)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "verify" -d 'Prove the policy with real packets between two throwaway network namespaces (root)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "diff" -d 'Compare the live ruleset and forwarding sysctls with the policy (exit 0 in sync, 1 drift)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "explain" -d 'Explain one packet: each table\'s deciding rule on its path and the combined verdict'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "apply" -d 'Apply the policy to the kernel: one atomic batch, then the forwarding sysctls'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "confirm" -d 'Keep a change applied with `apply --confirm` (from any shell, ideally a new SSH session)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "status" -d 'Show a pending `apply --confirm` change and the time left (reverts a stale one), or how the last one ended'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "revert" -d 'Revert a pending `apply --confirm` change now'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "boot" -d 'Apply the policy at boot, falling back to the last known good or the built-in kvm-host policy (what hostwall.service runs)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "metrics" -d 'Print Prometheus metrics (node_exporter textfile format): sync, drift by kind, last apply, pending change, and the packets and bytes of every rule with `counter`'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "services" -d 'List the built-in service catalog (or one service): ports and where they come from'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "import" -d 'Write a hostwall policy from another firewall\'s configuration (firewalld)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and not __fish_seen_subcommand_from init compile check fmt verify diff explain apply confirm status revert boot metrics services import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hostwall -n "__fish_hostwall_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "firewalld" -d 'firewalld\'s zones, policies, services and rich rules → a hostwall policy (exit 1 when something is not expressed: each is listed with its file:line:col)'
