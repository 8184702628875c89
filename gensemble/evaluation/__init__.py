"""Evaluation machinery shared by metric plugins: results, context, batched torch kernels.

Nothing here knows a particular metric; metric plugins import these helpers.
"""
