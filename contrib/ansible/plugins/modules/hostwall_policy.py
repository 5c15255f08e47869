#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostwall developers
# SPDX-License-Identifier: MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hostwall_policy
short_description: Apply, check, confirm or revert a hostwall firewall policy
version_added: "0.1.0"
description:
  - Checks a hostwall policy and applies it to the kernel as one atomic nftables batch,
    with the forwarding sysctls it sets.
  - Idempotent. When the live table and sysctls already are the policy nothing is sent,
    the nftables generation id does not move and the task reports C(ok).
    C(changed) is true only when the live ruleset or a sysctl changed.
  - Check mode reports what would change and changes nothing.
    Diff mode shows the live table and the policy in the policy's terms, one line per
    chain default and per policy rule (its verdict, services and ports, sources,
    interfaces).
  - With C(confirm_timeout) the change is reverted by the host itself unless a later
    task confirms it (C(state=confirmed)), ideally over a new connection
    (the C(reset_connection) meta task). If the new rules cut the controller off, the confirm
    never arrives and the host reverts. See the collection's README and
    docs/ansible.md.
  - Failures carry each policy error as C(file:line:col); nothing is applied then.
options:
  src:
    description:
      - Path of the policy file on the managed host.
      - Mutually exclusive with C(content).
    type: path
  content:
    description:
      - The policy text itself (for example from C(lookup('file', 'host.policy'))).
      - Errors in it are reported as C(content:LINE:COL).
      - Mutually exclusive with C(src).
    type: str
  site:
    description:
      - Path of the site file (TOML) on the managed host. Default
        C(/etc/hostwall/site.toml) when it exists.
    type: path
  state:
    description:
      - C(applied) applies the policy.
      - C(checked) only checks it (no root needed, the kernel is not read).
      - C(confirmed) keeps a change applied with C(confirm_timeout); C(reverted)
        reverts it now. Neither needs C(src) or C(content).
    type: str
    choices: [applied, checked, confirmed, reverted]
    default: applied
  confirm_timeout:
    description:
      - Seconds after which the host reverts the change unless it is confirmed with
        C(state=confirmed). Nothing is pending when nothing changed.
    type: int
  persist:
    description:
      - Also write the forwarding setting to C(/etc/sysctl.d/90-hostwall.conf) (with
        C(confirm_timeout), once the change is confirmed).
      - Not with C(netns).
    type: bool
    default: false
  force:
    description:
      - Apply even if the policy would reject the SSH session the module runs under
        (hostwall's lockout guard refuses such a policy by default).
    type: bool
    default: false
  netns:
    description:
      - Act on the network namespace C(/run/netns/NAME) instead of the host's own
        (tests; the lockout guard does not apply there).
    type: str
  hostwall_bin:
    description:
      - The hostwall executable, a path or a name looked up on C(PATH).
    type: path
    default: hostwall
  state_dir:
    description:
      - hostwall's state directory (lock, pending change, apply records). Default
        C(/run/hostwall); tests use a private one.
    type: path
  log_dir:
    description:
      - Send hostwall's system log entries to C(journal.sock) and C(syslog.sock) in
        this directory instead of the system's (tests).
    type: path
notes:
  - Needs root (CAP_NET_ADMIN) for every state but C(checked).
  - Supports check mode and diff mode.
requirements:
  - hostwall on the managed host
author:
  - hostwall developers (@hostwall)
"""

EXAMPLES = r"""
- name: Apply the host's policy
  hostwall.firewall.hostwall_policy:
    src: /etc/hostwall/host.policy

- name: Apply a policy from the controller, reverted in 120 s unless confirmed
  hostwall.firewall.hostwall_policy:
    content: "{{ lookup('file', 'files/kvm-host.policy') }}"
    confirm_timeout: 120

- name: Reconnect, so the confirm proves a new connection still gets through
  ansible.builtin.meta: reset_connection

- name: Keep the change
  hostwall.firewall.hostwall_policy:
    state: confirmed

- name: Only check a policy
  hostwall.firewall.hostwall_policy:
    src: /etc/hostwall/host.policy
    state: checked
"""

RETURN = r"""
hostwall:
  description:
    - hostwall's JSON document for the command run (C(apply), C(check) for
      C(state=checked), C(confirm), C(revert) or C(status)), as docs/json.md describes.
  returned: always
  type: dict
generation:
  description: The nftables generation id before and after (C(apply) only).
  returned: when applied
  type: dict
  sample: {"before": 41, "after": 42}
pending:
  description: The pending change (id, deadline, left_secs) under C(confirm_timeout).
  returned: when applied
  type: dict
diagnostics:
  description:
    - Every diagnostic of the policy (code, severity, message, file, line, column,
      end_line, end_column, label, labels, help), as docs/json.md describes.
  returned: failure, and success of C(state=checked)
  type: list
  elements: dict
error:
  description: Why the command failed, C({kind, message}); kind is policy, input or system.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hostwall.firewall.plugins.module_utils import hostwall as hw


def policy_args(module):
    """The policy (or `-`, its text on stdin) and the site file."""
    p = module.params
    args = [p["src"] if p["src"] else "-"]
    if p["site"]:
        args += ["--site", p["site"]]
    return args


def content_name(module):
    return "content" if module.params["content"] is not None else None


def data(module):
    c = module.params["content"]
    return None if c is None else c.encode("utf-8")


def dry_run(module):
    """`apply --dry-run`: what would change, nothing sent."""
    args = ["apply", "--dry-run"] + hw.scope_args(module) + policy_args(module)
    if module.params["force"]:
        args.append("--force")
    rc, doc, err = hw.run_json(module, args, data(module))
    if rc != 0:
        hw.fail_with(module, "hostwall apply --dry-run failed", rc, doc, err,
                     content_name(module), hostwall=doc)
    return doc


def would_change(doc):
    """A dry run's answer; a live ruleset it could not read (no in_sync) counts as a
    change, so check mode never hides one."""
    return doc.get("in_sync") is not True or bool(doc.get("sysctls"))


def applied(module):
    p = module.params
    header = p["src"] or "policy (content)"
    if module.check_mode or module._diff:
        preview = dry_run(module)
        if module.check_mode:
            result = dict(changed=would_change(preview), hostwall=preview,
                          generation=preview.get("generation"))
            if module._diff:
                result["diff"] = hw.diff_of(preview, header)
            module.exit_json(**result)
    args = ["apply"] + hw.scope_args(module) + policy_args(module)
    if p["confirm_timeout"] is not None:
        args += ["--confirm", str(p["confirm_timeout"])]
    if p["persist"]:
        args.append("--persist")
    if p["force"]:
        args.append("--force")
    rc, doc, err = hw.run_json(module, args, data(module))
    if rc != 0:
        hw.fail_with(module, "hostwall apply failed", rc, doc, err, content_name(module),
                     hostwall=doc, changed=bool(doc.get("changed")))
    result = dict(changed=bool(doc.get("changed")), hostwall=doc,
                  generation=doc.get("generation"), pending=doc.get("pending"))
    if module._diff and result["changed"]:
        result["diff"] = hw.diff_of(preview, header)
    module.exit_json(**result)


def checked(module):
    """`check --format json`: the policy's diagnostics; errors fail the task, each as
    file:line:col."""
    args = ["check"] + policy_args(module)
    rc, doc, err = hw.run_json(module, args, data(module))
    if rc != 0:
        hw.fail_with(module, "hostwall check failed", rc, doc, err, content_name(module),
                     hostwall=doc)
    module.exit_json(changed=False, hostwall=doc, diagnostics=doc.get("diagnostics") or [])


def ended(module, command):
    """`confirm` or `revert` of the pending change (check mode: `status` only)."""
    scope = hw.scope_args(module)
    if module.check_mode:
        rc, doc, err = hw.run_json(module, ["status"] + scope)
        if rc != 0:
            hw.fail_with(module, "hostwall status failed", rc, doc, err, hostwall=doc)
        module.exit_json(changed=bool(doc.get("pending")), hostwall=doc)
    rc, doc, err = hw.run_json(module, [command] + scope)
    done = doc.get("result") in ("kept", "reverted", "dropped") and doc.get("change")
    if rc != 0:
        hw.fail_with(module, "hostwall %s failed" % command, rc, doc, err,
                     hostwall=doc, changed=bool(done))
    module.exit_json(changed=bool(done), hostwall=doc)


def main():
    spec = dict(
        src=dict(type="path"),
        content=dict(type="str"),
        site=dict(type="path"),
        state=dict(type="str", default="applied",
                   choices=["applied", "checked", "confirmed", "reverted"]),
        confirm_timeout=dict(type="int"),
        persist=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    )
    spec.update(hw.common_options())
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("src", "content")],
        required_if=[
            ("state", "applied", ("src", "content"), True),
            ("state", "checked", ("src", "content"), True),
        ],
        supports_check_mode=True,
    )
    p = module.params
    if p["confirm_timeout"] is not None and not 1 <= p["confirm_timeout"] <= 86400:
        module.fail_json(msg="confirm_timeout must be between 1 and 86400 seconds, got %d"
                         % p["confirm_timeout"])
    if p["persist"] and p["netns"]:
        module.fail_json(msg="persist writes the host's sysctl.d drop-in; it cannot be "
                         "combined with netns")
    if p["state"] == "applied":
        applied(module)
    elif p["state"] == "checked":
        checked(module)
    elif p["state"] == "confirmed":
        ended(module, "confirm")
    else:
        ended(module, "revert")


if __name__ == "__main__":
    main()
