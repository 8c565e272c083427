"""Four-eyes approvals: a change that needs a second person is requested, then decided by another user."""
