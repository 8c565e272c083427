"""Payments shared by every feature that pays money out: 委託料 (billing), relief benefits (relief)."""
