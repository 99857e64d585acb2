//! Where output goes: data on stdout, diagnostics and progress on stderr.
//!
//! Diagnostics are rendered by miette's graphical handler, in colour only
//! when stderr is a terminal (and `NO_COLOR` is unset), or as `--color` says.

use std::io::{self, BufWriter, IsTerminal, Stderr, Stdout, Write};

use clap::ValueEnum;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use weft_config::Diagnostics;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always colour (e.g. when piping into `less -R`).
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && io::stderr().is_terminal()
            }
        }
    }
}

#[derive(Debug)]
pub struct Out {
    stdout: BufWriter<Stdout>,
    stderr: Stderr,
    /// Set when diagnostics are coloured.
    handler: Option<GraphicalReportHandler>,
}

impl Out {
    pub fn new(color: ColorChoice) -> Self {
        let handler = color.enabled().then(|| {
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
                .with_width(100)
                .with_links(false)
                .without_cause_chain()
        });
        Out {
            stdout: BufWriter::new(io::stdout()),
            stderr: io::stderr(),
            handler,
        }
    }

    /// A line of data on stdout.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.stdout, "{text}")
    }

    /// Raw data on stdout (e.g. a whole DOT or JSON document).
    pub fn data(&mut self, text: &str) -> io::Result<()> {
        self.stdout.write_all(text.as_bytes())
    }

    /// A plain message on stderr.
    pub fn error(&mut self, text: &str) -> io::Result<()> {
        self.stdout.flush()?;
        writeln!(self.stderr, "{text}")
    }

    /// Everything wrong with a file, rendered on stderr: without colour,
    /// exactly `weft-config`'s canonical rendering (the one its snapshots
    /// pin); with colour, the same blocks through a coloured handler.
    pub fn diagnostics(&mut self, diagnostics: &Diagnostics) -> io::Result<()> {
        let text = match &self.handler {
            None => diagnostics.render(),
            Some(handler) => {
                let mut text = format!("{diagnostics}\n");
                for problem in diagnostics.problems() {
                    text.push('\n');
                    if handler.render_report(&mut text, problem).is_err() {
                        text.push_str(&format!("error: {problem}\n"));
                    }
                    if let (None, Some((line, col))) = (problem.labels(), problem.line_col()) {
                        text.push_str(&format!(
                            "  at {}:{line}:{col}\n",
                            diagnostics.source_name()
                        ));
                    }
                }
                text
            }
        };
        self.stdout.flush()?;
        self.stderr.write_all(text.as_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}
