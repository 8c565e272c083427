"""The hub: plays the national network's role (情報提供ネットワークシステム) between bodies."""
