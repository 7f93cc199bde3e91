"""Reconcile mlendpoints resources into Kubernetes objects (target ``kubernetes``)."""
