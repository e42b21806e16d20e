"""Pictures for a person: overlays, plots (matplotlib Figures, no global backend), reports."""
