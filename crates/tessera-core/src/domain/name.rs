//! Display names of clients and applications: what people type in a form.

/// The longest name, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 200;

/// `raw` trimmed, or why not: blank (empty or only whitespace, said as such rather than as
/// a length, issue 15) or longer than [`MAX_DISPLAY_NAME_LEN`]. `what` is the subject of
/// the message: "an application name".
pub fn display_name<'a>(raw: &'a str, what: &str) -> Result<&'a str, String> {
    let name = raw.trim();
    if name.is_empty() {
        let kind = what.split_whitespace().last().unwrap_or("name");
        return Err(format!("{what} cannot be blank: type a {kind}"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_LEN {
        return Err(format!(
            "{what} must be at most {MAX_DISPLAY_NAME_LEN} characters"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_names_are_called_blank_and_long_ones_long() {
        for blank in ["", "   ", "\t \n"] {
            assert_eq!(
                display_name(blank, "a client name"),
                Err("a client name cannot be blank: type a name".into()),
                "{blank:?}"
            );
        }
        assert_eq!(display_name("  prod  ", "a client name"), Ok("prod"));
        let long = "é".repeat(MAX_DISPLAY_NAME_LEN);
        assert_eq!(display_name(&long, "x"), Ok(long.as_str()));
        let longer = "é".repeat(MAX_DISPLAY_NAME_LEN + 1);
        assert_eq!(
            display_name(&longer, "an application name"),
            Err("an application name must be at most 200 characters".into())
        );
    }
}
