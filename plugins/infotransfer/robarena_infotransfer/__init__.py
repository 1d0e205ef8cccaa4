"""robarena plugin for P2 (information and transferability of adversarially trained models)."""
