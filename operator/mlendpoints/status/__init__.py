"""Pure status logic: metav1.Condition bookkeeping and the kstatus contract.

Nothing here talks to the API; reconcilers compute an :class:`Outcome` and this package turns
it into the ``status`` dict to write, so the same rules serve every kind and are unit-tested.
"""
