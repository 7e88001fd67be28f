"""What a run writes and shows: results folders, summaries, console text, plots, reports."""
