"""Voice: spoken incident summaries, phone callouts and the speech engine behind them."""
