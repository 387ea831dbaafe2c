"""Monthly reports and the figures the console shares with them."""
