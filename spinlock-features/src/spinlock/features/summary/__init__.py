"""The SUMMARY feature family (torch-free re-exports; the family itself is in ``.family``)."""

from spinlock.features.summary.config import SUMMARY_AGGREGATIONS, SUMMARY_CATEGORIES, SummaryConfig
from spinlock.features.summary.registration import SUMMARY_VERSION, register_summary

__all__ = [
    "SUMMARY_AGGREGATIONS",
    "SUMMARY_CATEGORIES",
    "SUMMARY_VERSION",
    "SummaryConfig",
    "register_summary",
]
