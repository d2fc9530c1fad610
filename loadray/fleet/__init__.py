"""The coordinator's decisions without Ray: membership and leases, worker loss and
its policies, plan revisions, live rules, and the accounting of every planned
request. :mod:`loadray.cluster.coordinator` is the Ray shell that carries them out."""
