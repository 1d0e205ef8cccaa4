"""Paper metadata shared by this plugin's spec modules (no torch import; P3 repeats the classics entry)."""
from bench.specs import Paper

P2 = Paper(title="Adversarial Training Reduces Information and Improves Transferability", key="P2")
P3 = Paper(
    title="On the Human-Recognizability Phenomenon of Adversarially Trained Deep Image Classifiers",
    authors="J. Helland, N. VanHoudnos", year=2021, key="P3",
)
