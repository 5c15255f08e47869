# Parses a Prometheus text exposition from stdin with prometheus_client's own parser
# and prints its samples as JSON lines: [name, labels, value]. Fails on a parse error,
# a sample whose family has no TYPE line, or two samples with the same name and labels.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
seen = set()
for family in text_string_to_metric_families(text):
    if family.type == "unknown":
        sys.exit("family without a TYPE line: " + family.name)
    for s in family.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in seen:
            sys.exit("duplicate series: %r" % (key,))
        seen.add(key)
        print(json.dumps([s.name, s.labels, s.value]))
