"""Pictures of an environment's address use (docs/pictures.md).

- `harness.pictures.model`: per node, the ENI's addresses as 16-cell rows; per subnet,
  its /28 blocks (plain data, no I/O);
- `harness.pictures.timeline`: a scenario report's timeline as series (plain data);
- `harness.pictures.gather`: the node map of a running environment (EC2, Kubernetes,
  the controller's introspection);
- `harness.pictures.render`: PNG and SVG (matplotlib; the only module importing it);
- `harness.pictures.terminal`: the node map as a coloured grid (rich).

Nothing here is imported on the CNI or node-agent path, so matplotlib never is either.
"""
