"""The composer (pure): one post rewritten in each network's syntax, and the editorial directory it reads."""
