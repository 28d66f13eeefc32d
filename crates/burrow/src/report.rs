//! The report `burrow doctor` and `burrow admin check` print: findings ([`Line`]) with a
//! status, a topic, a message and for a problem the exact fix.

use std::fmt;

/// How a line of a report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Works.
    Ok,
    /// A fact, neither good nor bad (nothing to fix).
    Info,
    /// Works, but something is off or limited.
    Warn,
    /// Does not work.
    Fail,
}

impl Status {
    /// The tag shown in the text rendering.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ok]  ",
            Status::Info => "[info]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
        }
    }
}

/// One finding: a status, a topic, a message, and for a problem the exact fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// How it went.
    pub status: Status,
    /// What it is about ("helpers", "/etc/subuid", ...).
    pub topic: String,
    /// What was found.
    pub message: String,
    /// The exact command (or action) that fixes it.
    pub fix: Option<String>,
}

impl Line {
    /// A line without a fix.
    pub fn new(status: Status, topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line {
            status,
            topic: topic.into(),
            message: message.into(),
            fix: None,
        }
    }
    /// [`Status::Ok`].
    pub fn ok(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Ok, topic, message)
    }
    /// [`Status::Info`].
    pub fn info(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Info, topic, message)
    }
    /// [`Status::Warn`].
    pub fn warn(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Warn, topic, message)
    }
    /// [`Status::Fail`].
    pub fn fail(topic: impl Into<String>, message: impl Into<String>) -> Line {
        Line::new(Status::Fail, topic, message)
    }
    /// Adds the fix.
    pub fn fix(mut self, fix: impl Into<String>) -> Line {
        self.fix = Some(fix.into());
        self
    }
}

/// A list of findings with a title; renders as text (one line per finding, the fix
/// indented below it, a summary at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// First line of the rendering.
    pub title: String,
    /// The findings, in order.
    pub lines: Vec<Line>,
}

impl Report {
    /// An empty report.
    pub fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            lines: Vec::new(),
        }
    }
    /// Adds one finding.
    pub fn push(&mut self, line: Line) {
        self.lines.push(line);
    }
    /// Adds several findings.
    pub fn extend(&mut self, lines: impl IntoIterator<Item = Line>) {
        self.lines.extend(lines);
    }
    /// Number of findings with this status.
    pub fn count(&self, status: Status) -> usize {
        self.lines.iter().filter(|l| l.status == status).count()
    }
    /// True when something does not work.
    pub fn has_failures(&self) -> bool {
        self.count(Status::Fail) > 0
    }
    /// The exit status for the command line: 1 when something fails, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.has_failures())
    }
    /// The text rendering.
    pub fn render(&self) -> String {
        let mut s = format!("{}\n", self.title);
        for l in &self.lines {
            s.push_str(&format!("{} {}: {}\n", l.status.tag(), l.topic, l.message));
            if let Some(fix) = &l.fix {
                s.push_str(&format!("       fix: {fix}\n"));
            }
        }
        let (f, w) = (self.count(Status::Fail), self.count(Status::Warn));
        s.push_str(&match (f, w) {
            (0, 0) => "no problems found\n".to_owned(),
            _ => format!("{f} failure(s), {w} warning(s)\n"),
        });
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
