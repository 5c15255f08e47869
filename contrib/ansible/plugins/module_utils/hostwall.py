# -*- coding: utf-8 -*-
# Copyright: hostwall developers
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Running the hostwall binary for the modules: arguments every command shares, the
JSON document a command prints with --format json, and its errors as one message an
Ansible user can act on (each policy error as file:line:col)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def common_options():
    """The options every module of the collection takes."""
    return dict(
        netns=dict(type="str"),
        hostwall_bin=dict(type="path", default="hostwall"),
        state_dir=dict(type="path"),
        log_dir=dict(type="path"),
    )


def scope_args(module, logs=True):
    """--netns, --state-dir and (for commands that log) the log sockets."""
    p = module.params
    args = []
    if p.get("netns"):
        args += ["--netns", p["netns"]]
    if p.get("state_dir"):
        args += ["--state-dir", p["state_dir"]]
    if logs and p.get("log_dir"):
        args += [
            "--journal-socket", p["log_dir"] + "/journal.sock",
            "--syslog-socket", p["log_dir"] + "/syslog.sock",
        ]
    return args


def binary(module):
    """The hostwall executable: a path as given, else looked up on PATH."""
    name = module.params["hostwall_bin"]
    if "/" in name:
        return name
    return module.get_bin_path(name, required=True)


def run(module, args, data=None):
    """Runs hostwall ARGS (stdin: data); returns (rc, stdout, stderr)."""
    cmd = [binary(module)] + list(args)
    kwargs = dict(check_rc=False, environ_update={"NO_COLOR": "1"})
    if data is not None:
        kwargs["data"] = data
        kwargs["binary_data"] = True
    return module.run_command(cmd, **kwargs)


def run_json(module, args, data=None):
    """Runs a --format json command; returns (rc, document, stderr). A run that printed
    no document fails the task with hostwall's own message."""
    rc, out, err = run(module, list(args) + ["--format", "json"], data)
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(
            msg="hostwall %s printed no JSON document (exit %d): %s"
            % (args[0], rc, err.strip() or out.strip()),
            rc=rc, stderr=err, stdout=out,
        )
    return rc, doc, err


def error_lines(doc, content_name=None):
    """Each error of a document as one line: every error diagnostic as
    `file:line:col: message [code] (help: ...)`, then the document's `error` unless it
    only says the policy has errors. A policy given as `content` is named
    `content_name`."""
    lines = []
    for d in doc.get("diagnostics") or []:
        if d.get("severity") != "error":
            continue
        name = d.get("file", "")
        if content_name and name == "<stdin>":
            name = content_name
        text = d.get("message", "")
        if d.get("code"):
            text += " [%s]" % d["code"]
        if d.get("help"):
            text += " (help: %s)" % d["help"]
        lines.append("%s:%s:%s: %s" % (name, d.get("line"), d.get("column"), text))
    error = doc.get("error") or {}
    if error.get("message") and not (lines and error.get("kind") == "policy"):
        lines.append(error["message"])
    return lines


def fail_with(module, what, rc, doc, err, content_name=None, **extra):
    """Fails the task: `what` and every error of the document, one per line."""
    lines = error_lines(doc, content_name) or [err.strip() or "exit %d" % rc]
    module.fail_json(
        msg="%s: %s" % (what, "; ".join(lines)),
        rc=rc, diagnostics=doc.get("diagnostics") or [], error=doc.get("error") or {},
        stderr=err, **extra
    )


def diff_of(doc, header):
    """Ansible's before/after from a dry run's `view`: one line per chain default and
    policy rule (services, sources, interfaces), live table first."""
    view = doc.get("view") or {}
    before = view.get("before")
    after = view.get("after") or []
    return dict(
        before_header="live table (%s)" % (doc.get("table") or "absent"),
        after_header=header,
        before="" if not before else "\n".join(before) + "\n",
        after="\n".join(after) + "\n",
    )
