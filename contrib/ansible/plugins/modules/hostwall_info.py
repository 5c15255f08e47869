#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hostwall developers
# SPDX-License-Identifier: MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hostwall_info
short_description: hostwall's version, pending change and drift as facts
version_added: "0.1.0"
description:
  - Gathers, as the fact C(hostwall), the installed hostwall's version, the status of
    the safe-apply machinery (is a change pending, its deadline and seconds left, the
    revert watcher's health, how the last change ended) and whether the live ruleset
    and forwarding sysctls still are the policy (drift).
  - Changes nothing, except that hostwall reverts a pending change whose deadline has
    passed when it reads the status (as C(hostwall status) does).
options:
  src:
    description:
      - The policy to compare the live ruleset with. Default
        C(/etc/hostwall/host.policy).
    type: path
  site:
    description: The site file (TOML). Default C(/etc/hostwall/site.toml) when it exists.
    type: path
  gather:
    description: Which facts to gather.
    type: list
    elements: str
    choices: [version, status, drift]
    default: [version, status, drift]
  netns:
    description:
      - Look at the network namespace C(/run/netns/NAME) instead of the host's own (tests).
    type: str
  hostwall_bin:
    description: The hostwall executable, a path or a name looked up on C(PATH).
    type: path
    default: hostwall
  state_dir:
    description: hostwall's state directory. Default C(/run/hostwall); tests use a private one.
    type: path
  log_dir:
    description:
      - Send hostwall's system log entries to C(journal.sock) and C(syslog.sock) in
        this directory instead of the system's (tests).
    type: path
notes:
  - Needs root to read the ruleset and the state directory.
  - Supports check mode.
author:
  - hostwall developers (@hostwall)
"""

EXAMPLES = r"""
- name: Gather hostwall facts
  hostwall.firewall.hostwall_info:

- name: Fail when the firewall drifted from the policy
  ansible.builtin.assert:
    that: ansible_facts.hostwall.drift.in_sync
    fail_msg: "{{ ansible_facts.hostwall.drift.changes }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts under the key C(hostwall).
  returned: always
  type: complex
  contains:
    hostwall:
      description: What was gathered.
      type: dict
      returned: always
      contains:
        version:
          description: hostwall's version (C(0.1.0)).
          type: str
          returned: when gathered
        status:
          description:
            - C(hostwall status --format json) (docs/json.md); C(pending), C(change)
              (deadline, left_secs, watcher), C(last) (how the last change ended).
          type: dict
          returned: when gathered
        drift:
          description:
            - C(hostwall diff --format json) (docs/diff.md); C(in_sync), C(changes),
              C(genid). C(error) (C(kind), C(message)) instead when the policy or the ruleset
              cannot be read.
          type: dict
          returned: when gathered
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hostwall.firewall.plugins.module_utils import hostwall as hw


def version(module):
    rc, out, err = hw.run(module, ["--version"])
    if rc != 0:
        module.fail_json(msg="hostwall --version failed: %s" % err.strip(), rc=rc)
    return out.strip().split()[-1]


def status(module):
    rc, doc, err = hw.run_json(module, ["status"] + hw.scope_args(module))
    if rc != 0:
        hw.fail_with(module, "hostwall status failed", rc, doc, err)
    return doc


def drift(module):
    p = module.params
    args = ["diff", "--format", "json"] + hw.scope_args(module, logs=False)
    if p["site"]:
        args += ["--site", p["site"]]
    if p["src"]:
        args.append(p["src"])
    rc, out, err = hw.run(module, args)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return doc
    return dict(ok=False, error=dict(kind="system", message=err.strip() or out.strip()))


def main():
    spec = dict(
        src=dict(type="path"),
        site=dict(type="path"),
        gather=dict(type="list", elements="str", default=["version", "status", "drift"],
                    choices=["version", "status", "drift"]),
    )
    spec.update(hw.common_options())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    facts = {}
    gather = module.params["gather"]
    if "version" in gather:
        facts["version"] = version(module)
    if "status" in gather:
        facts["status"] = status(module)
    if "drift" in gather:
        facts["drift"] = drift(module)
    module.exit_json(changed=False, ansible_facts=dict(hostwall=facts))


if __name__ == "__main__":
    main()
