"""
The command lines of the MAE-ST tools (`mae-st-convert`, `mae-st-embed`, `mae-st-visualize`), installed as
`mae_st_commands`.

Each module builds its parser with argparse alone and imports the model package only after parsing: importing
`modeling_mae_st` registers it with the Auto classes, which loads torch and transformers (seconds), and `--help`
or a mistyped flag must answer at once. The work itself lives in `modeling_mae_st`.
"""
