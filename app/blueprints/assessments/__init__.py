"""Company assessment (bilan entreprise): the grid, ratings, status (SPEC F6)."""
