"""Past one machine: node-agent shards on other hosts join an environment.

- ``harness.join.joinfile``: the join file (``<run dir>/join.json``, 0600) — its
  schema, strict reading and writing;
- ``harness.join.access``: the join identity, its RBAC, and the first host's rule for
  the certificates it grants;
- ``harness.join.service``: the first host's side, inside `ekswin up` (existing and
  kind backends): writes the file, approves, removes nodes that left;
- ``harness.join.host``: the other host's side, ``ekswin agent --join FILE --nodes N``.
"""
