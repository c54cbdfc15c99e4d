"""What a person reads: figures, the HTML report, number and date formatting, one plot style.

Takes Results and analysis data and draws them; only commands and notebooks save or show.
"""
