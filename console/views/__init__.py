"""The console's pages. Every page needs a login and shows only the user's bots."""
