use super::*;

fn unfolded(body: &str) -> Vec<String> {
    lines(body).map(|l| l.unfolded.into_owned()).collect()
}

#[test]
fn unfolds_and_keeps_raw_bytes() {
    let body = "BEGIN:VCARD\r\nNOTE:hello\r\n  world\r\nitem1.TEL;TYPE=\"a:b\":+1\nEND:VCARD";
    let ls: Vec<Line<'_>> = lines(body).collect();
    assert_eq!(ls.len(), 4);
    assert_eq!(ls[1].raw, "NOTE:hello\r\n  world\r\n");
    assert_eq!(ls[1].unfolded, "NOTE:hello world");
    assert_eq!(ls[1].folded(), "NOTE:hello\r\n  world");
    assert_eq!(ls[2].raw, "item1.TEL;TYPE=\"a:b\":+1\n");
    assert_eq!(ls[2].name(), "TEL");
    assert_eq!(ls[2].value_colon(), Some(20));
    assert_eq!(ls[2].value(), "+1");
    assert_eq!(ls[3].raw, "END:VCARD");
    assert_eq!(ls.iter().map(|l| l.raw).collect::<String>(), body);
}

#[test]
fn tab_folds_bare_lf_and_crlf_replay() {
    let body = "SUMMARY:Hi\n\tthere\r\n there\nX:1";
    let ls: Vec<Line<'_>> = lines(body).collect();
    assert_eq!(ls[0].unfolded, "SUMMARY:Hitherethere");
    assert_eq!(ls[0].folded_crlf(), "SUMMARY:Hi\r\n\tthere\r\n there");
    assert_eq!(ls[1].folded_crlf(), "X:1");
}

#[test]
fn blank_lines_and_leading_space() {
    // A blank line is a line of its own; a fold after it continues it (RFC 5545 §3.1: the
    // fold is the line break plus one white space).
    assert_eq!(
        unfolded("A:1\r\n\r\nB:2\r\n\r\n x\r\n"),
        vec!["A:1", "", "B:2", "x"]
    );
    // A body that starts with white space has nothing to continue.
    assert_eq!(unfolded(" A:1\r\n B"), vec![" A:1B"]);
    assert_eq!(unfolded(""), Vec::<String>::new());
}

#[test]
fn parses_group_name_params_value() {
    let l = parse_line("item1.EMAIL;type=INTERNET,pref;X=\"a;b:c\",d;CELL:a@b.c:x").unwrap();
    assert_eq!(l.group, Some("item1"));
    assert_eq!(l.name, "EMAIL");
    assert_eq!(l.full_name(), "item1.EMAIL");
    assert_eq!(l.value, "a@b.c:x");
    assert_eq!(l.params.len(), 3);
    assert_eq!(l.params[0].name, "type");
    assert_eq!(l.params[0].values(), vec!["INTERNET", "pref"]);
    assert_eq!(l.params[1].values(), vec!["a;b:c", "d"]);
    assert_eq!(l.params[1].unquoted(), "a;b:c,d");
    assert_eq!(l.params[2].value, None);
    assert!(l.params[2].values().is_empty());
    let l = parse_line("ATTENDEE;CN=\"Doe: J\":mailto:j@x").unwrap();
    assert_eq!(l.value, "mailto:j@x");
    assert_eq!(l.params[0].values(), vec!["Doe: J"]);
    assert_eq!(parse_line("NOVALUE;X=1"), None);
    assert!(is_name("X-ITEM.TEL") && !is_name("") && !is_name("A B"));
}

#[test]
fn folds_at_75_octets_on_char_boundaries() {
    for ch in ["李", "☕", "ü", "a"] {
        let line = format!("FN:{}", ch.repeat(100));
        let mut out = String::new();
        push_folded(&mut out, &line);
        for physical in out.split_terminator("\r\n") {
            assert!(
                physical.len() <= MAX_LINE_OCTETS,
                "{} octets",
                physical.len()
            );
        }
        assert_eq!(unfolded(&out), vec![line]);
    }
    let mut out = String::new();
    push_folded(&mut out, &"x".repeat(75));
    assert_eq!(out, format!("{}\r\n", "x".repeat(75)));
}

#[test]
fn text_escapes() {
    let s = "a,b;c\\d\nline2";
    assert_eq!(escape_text(s), "a\\,b\\;c\\\\d\\nline2");
    assert_eq!(unescape_text(&escape_text(s)), s);
    // One rule for line breaks: CRLF, LF and a lone CR are each one `\n`.
    assert_eq!(escape_text("a\r\nb\nc\rd"), "a\\nb\\nc\\nd");
    assert_eq!(unescape_text("x\\Ny\\:z\\"), "x\ny:z\\");
    assert_eq!(
        split_unescaped("Müller\\;X;Zoë;;;", ';'),
        vec!["Müller\\;X", "Zoë", "", "", ""]
    );
    assert_eq!(structured(&["Doe", "J;r"]), "Doe;J\\;r");
    assert_eq!(text_list(&["a,b", "c"]), "a\\,b,c");
}

#[test]
fn parameter_quoting() {
    assert_eq!(param_value("Europe/Berlin"), "Europe/Berlin");
    assert_eq!(param_value("Doe, \"J\""), "\"Doe, 'J'\"");
    assert_eq!(quoted("Ann \"A\"\n"), "\"Ann A\"");
}

#[test]
fn durations() {
    let d = |days, secs| Some(Duration { days, secs });
    assert_eq!(parse_duration("PT1H30M"), d(0, 5400));
    assert_eq!(parse_duration("P1W"), d(7, 0));
    assert_eq!(parse_duration("-P2D"), d(-2, 0));
    assert_eq!(parse_duration(" +p1dt12h "), d(1, 43_200));
    assert_eq!(
        parse_duration("-PT15M").map(|d| d.approx_secs()),
        Some(-900)
    );
    assert_eq!(parse_duration("P1DT"), d(1, 0));
    for bad in [
        "",
        "P",
        "PT",
        "P1H",
        "PT1D",
        "P1",
        "1D",
        "P1T2H",
        "PT12345678901S",
        "-",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(format_duration(45 * 60), "PT45M");
    assert_eq!(format_duration(86_400 + 7200), "P1DT2H");
    assert_eq!(format_duration(3 * 86_400), "P3D");
    assert_eq!(format_duration(90 * 60), "PT1H30M");
    assert_eq!(format_duration(0), "PT0S");
    assert_eq!(format_duration(-300), "-PT5M");
    assert_eq!(format_duration(61), "PT1M1S");
}
