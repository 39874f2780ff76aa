"""
The command lines of the MAE-ST tools (`mae-st-convert`, `mae-st-embed`, `mae-st-visualize`,
`mae-st-make-shards`), installed as
`mae_st_commands`.

Each module builds its parser with argparse alone and imports the model package only after parsing: importing
`modeling_mae_st` registers it with the Auto classes, which loads torch and transformers (seconds), and `--help`
or a mistyped flag must answer at once. The work itself lives in `modeling_mae_st`.
"""

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, `<prog>: error: <cause>` with exit status 2, as the training
    commands' (the usage is what `--help` is for)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")
