"""Areas, grid cells and every spatial query of the product."""
