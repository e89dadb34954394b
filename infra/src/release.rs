//! The release build (`make build`): the Makefile's list of functions must be the
//! template's, so that `sam build` finds a `build-<LogicalId>` target for each function
//! and copies the binary that function names.

/// (logical id, binary) of every `AWS::Serverless::Function` in a template's text.
pub fn template_functions(template: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut logical: Option<String> = None;
    let mut is_function = false;
    for line in template.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        {
            logical = Some(name.to_owned());
            is_function = false;
        } else if line.trim() == "Type: AWS::Serverless::Function" {
            is_function = true;
        } else if let (true, Some(binary)) = (is_function, line.trim().strip_prefix("Binary: ")) {
            if let Some(l) = &logical {
                out.push((l.clone(), binary.trim().to_owned()));
            }
        }
    }
    out
}

/// The `MemorySize` (MB) of the function that runs `binary`, from the template's text.
pub fn memory_mb(template: &str, binary: &str) -> Option<u32> {
    let mut in_function = false;
    let mut memory = None;
    for line in template.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':') {
            if in_function {
                return memory;
            }
            memory = None;
        } else if let Some(m) = line.strip_prefix("      MemorySize: ") {
            memory = m.trim().parse().ok();
        } else if line.trim() == format!("Binary: {binary}") {
            in_function = true;
        }
    }
    in_function.then_some(memory).flatten()
}

/// (logical id, binary) pairs of the Makefile's `SAM_FUNCTIONS`.
pub fn makefile_functions(makefile: &str) -> Vec<(String, String)> {
    let Some(start) = makefile.find("SAM_FUNCTIONS :=") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in makefile[start + "SAM_FUNCTIONS :=".len()..].lines() {
        for pair in line.trim_end_matches('\\').split_whitespace() {
            if let Some((l, b)) = pair.split_once(':') {
                out.push((l.to_owned(), b.to_owned()));
            }
        }
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_are_read_per_function() {
        let template = include_str!("../../template.yaml");
        for (_, binary) in template_functions(template) {
            assert!(memory_mb(template, &binary).is_some(), "{binary}");
        }
        assert_eq!(memory_mb(template, "no-such-binary"), None);
    }

    #[test]
    fn make_build_knows_every_function_of_the_template() {
        let template = include_str!("../../template.yaml");
        let mut from_template = template_functions(template);
        let mut from_makefile = makefile_functions(include_str!("../../Makefile"));
        from_template.sort();
        from_makefile.sort();
        assert_eq!(from_template.len(), 15, "{from_template:?}");
        assert_eq!(from_makefile, from_template);
        assert_eq!(
            template.matches("\n      BuildMethod: makefile\n").count(),
            from_template.len(),
            "every function builds through the Makefile"
        );
    }
}
