//! What a person types in `peerchat chat`, parsed into commands.

/// One line of chat input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A plain line: broadcast it.
    Say(String),
    /// `/join HOST:PORT`
    Join(String),
    /// `/peers`
    Peers,
    /// `/request PEER`
    Request(String),
    /// `/msg PEER TEXT`
    Msg { peer: String, text: String },
    /// `/whois NAME`
    Whois(String),
    /// `/trust NAME FINGERPRINT`
    Trust { name: String, fingerprint: String },
    /// `/forget NAME`
    Forget(String),
    /// `/history [N]`
    History(Option<usize>),
    /// `/help`
    Help,
    /// `/quit` (also Ctrl-C, Ctrl-D)
    Quit,
    /// An empty line.
    Nothing,
}

/// The commands table shown by `/help`. (Not a `"\` literal: that would eat
/// the first line's indent.)
pub const HELP: &str = "  TEXT              broadcast TEXT to everyone
  /join HOST:PORT   connect to a node
  /peers            list the peers this node knows
  /request PEER     ask PEER for its peers, and connect to them
  /msg PEER TEXT    send TEXT to PEER only (reports delivered or failed)
  /whois NAME       the key fingerprints seen under NAME, and which is pinned
  /trust NAME FP    pin NAME to the key with fingerprint FP
  /forget NAME      forget NAME's pin (its next signed message pins again)
  /history [N]      the last N messages kept (default 20)
  /help             this list
  /quit             leave (Ctrl-C and Ctrl-D too)";

/// Parses one line; `Err` is a one-line explanation for the person.
pub fn parse(line: &str) -> Result<Input, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Input::Nothing);
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Input::Say(line.to_string()));
    };
    let (verb, rest) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    let rest = rest.trim();
    let one_arg = |usage: &str| {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            Err(format!("usage: {usage}"))
        } else {
            Ok(rest.to_string())
        }
    };
    match verb {
        "join" => one_arg("/join HOST:PORT").map(Input::Join),
        "peers" => Ok(Input::Peers),
        "request" => one_arg("/request PEER").map(Input::Request),
        "msg" => match rest.split_once(char::is_whitespace) {
            Some((peer, text)) if !text.trim().is_empty() => Ok(Input::Msg {
                peer: peer.to_string(),
                text: text.trim().to_string(),
            }),
            _ => Err("usage: /msg PEER TEXT".to_string()),
        },
        "whois" => one_arg("/whois NAME").map(Input::Whois),
        "forget" => one_arg("/forget NAME").map(Input::Forget),
        "trust" => match rest.split_once(char::is_whitespace) {
            Some((name, fp)) if !fp.trim().is_empty() && !fp.trim().contains(' ') => {
                Ok(Input::Trust {
                    name: name.to_string(),
                    fingerprint: fp.trim().to_string(),
                })
            }
            _ => Err("usage: /trust NAME FINGERPRINT".to_string()),
        },
        "history" => match rest {
            "" => Ok(Input::History(None)),
            n => n
                .parse()
                .map(|n| Input::History(Some(n)))
                .map_err(|_| "usage: /history [N]".to_string()),
        },
        "help" | "?" => Ok(Input::Help),
        "quit" | "exit" => Ok(Input::Quit),
        other => Err(format!(
            "unknown command /{other}; /help lists the commands"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain lines broadcast, commands parse, and mistakes get a one-line reason.
    #[test]
    fn parses_lines() {
        assert_eq!(parse("hello there"), Ok(Input::Say("hello there".into())));
        assert_eq!(parse("  "), Ok(Input::Nothing));
        assert_eq!(
            parse("/join 127.0.0.1:5001"),
            Ok(Input::Join("127.0.0.1:5001".into()))
        );
        assert_eq!(
            parse("/msg bob  hi  there"),
            Ok(Input::Msg {
                peer: "bob".into(),
                text: "hi  there".into()
            })
        );
        assert_eq!(parse("/peers"), Ok(Input::Peers));
        assert_eq!(parse("/whois bob"), Ok(Input::Whois("bob".into())));
        assert_eq!(parse("/forget bob"), Ok(Input::Forget("bob".into())));
        assert_eq!(
            parse("/trust bob 1a2b:3c4d:5e6f:7a8b"),
            Ok(Input::Trust {
                name: "bob".into(),
                fingerprint: "1a2b:3c4d:5e6f:7a8b".into()
            })
        );
        assert_eq!(
            parse("/trust bob"),
            Err("usage: /trust NAME FINGERPRINT".into())
        );
        assert_eq!(parse("/history"), Ok(Input::History(None)));
        assert_eq!(parse("/history 5"), Ok(Input::History(Some(5))));
        assert_eq!(parse("/history x"), Err("usage: /history [N]".into()));
        assert_eq!(parse("/quit"), Ok(Input::Quit));
        assert_eq!(parse("/join"), Err("usage: /join HOST:PORT".into()));
        assert_eq!(parse("/msg bob"), Err("usage: /msg PEER TEXT".into()));
        assert!(parse("/frobnicate")
            .unwrap_err()
            .starts_with("unknown command /frobnicate"));
    }

    /// Every `/help` line is indented alike and its explanation starts in one column.
    #[test]
    fn help_is_aligned() {
        let lines: Vec<&str> = HELP.lines().collect();
        assert_eq!(lines.len(), 11);
        for line in &lines {
            assert!(
                line.starts_with("  ") && !line.starts_with("   "),
                "{line:?}"
            );
        }
        // Where the explanation starts: after the command and the spaces that follow it.
        let column = |line: &str| {
            let body = &line[2..];
            let gap = body.find("  ")?;
            Some(2 + gap + body[gap..].len() - body[gap..].trim_start().len())
        };
        let first = column(lines[0]);
        assert!(first.is_some());
        for line in &lines {
            assert_eq!(column(line), first, "{line:?}");
        }
    }
}
