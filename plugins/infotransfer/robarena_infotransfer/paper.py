"""Paper metadata shared by this plugin's spec modules (no torch import)."""
from bench.specs import Paper

P2 = Paper(title="Adversarial Training Reduces Information and Improves Transferability", key="P2")
