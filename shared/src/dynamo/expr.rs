//! The one builder of update and condition expressions. Every attribute name and
//! value goes through a placeholder, so reserved words (`name`, `status`, …) are safe.

use super::{val, Item};
use crate::plan::{CmpOp, Cond, SetValue, Update, Val};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

#[derive(Default, Debug)]
pub struct Expr {
    names: HashMap<String, String>,
    values: Item,
}

impl Expr {
    /// The placeholder of an attribute name (`#a0`, …; the same name reuses one).
    pub fn name(&mut self, attr: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| a.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#a{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    /// A placeholder for a value (`:v0`, …).
    pub fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn plan_value(&mut self, v: &Val) -> String {
        self.value(val(v))
    }

    /// `SET … ADD … DELETE … REMOVE …` for an update.
    pub fn update(&mut self, u: &Update) -> String {
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let set: Vec<String> = u
                .set
                .iter()
                .map(|(attr, v)| {
                    let name = self.name(attr);
                    match v {
                        SetValue::Always(v) => format!("{name} = {}", self.plan_value(v)),
                        SetValue::IfAbsent(v) => {
                            format!("{name} = if_not_exists({name}, {})", self.plan_value(v))
                        }
                    }
                })
                .collect();
            clauses.push(format!("SET {}", set.join(", ")));
        }
        for (keyword, pairs) in [("ADD", &u.add), ("DELETE", &u.delete)] {
            if !pairs.is_empty() {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(attr, v)| format!("{} {}", self.name(attr), self.plan_value(v)))
                    .collect();
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        if !u.remove.is_empty() {
            let names: Vec<String> = u.remove.iter().map(|a| self.name(a)).collect();
            clauses.push(format!("REMOVE {}", names.join(", ")));
        }
        clauses.join(" ")
    }

    pub fn condition(&mut self, c: &Cond) -> String {
        match c {
            Cond::Exists(attr) => format!("attribute_exists({})", self.name(attr)),
            Cond::Absent(attr) => format!("attribute_not_exists({})", self.name(attr)),
            Cond::Cmp(attr, op, v) => {
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "<>",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                let name = self.name(attr);
                format!("{name} {op} {}", self.plan_value(v))
            }
            Cond::BeginsWith(attr, prefix) => {
                let name = self.name(attr);
                format!(
                    "begins_with({name}, {})",
                    self.value(AttributeValue::S(prefix.clone()))
                )
            }
            Cond::And(all) => self.join(all, " AND "),
            Cond::Or(any) => self.join(any, " OR "),
            Cond::Not(inner) => format!("NOT ({})", self.condition(inner)),
        }
    }

    fn join(&mut self, parts: &[Cond], glue: &str) -> String {
        let parts: Vec<String> = parts
            .iter()
            .map(|c| format!("({})", self.condition(c)))
            .collect();
        parts.join(glue)
    }

    /// The placeholder maps, `None` when empty (DynamoDB refuses empty maps).
    pub fn into_maps(self) -> (Option<HashMap<String, String>>, Option<Item>) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_set_add_delete_remove_with_placeholders() {
        let u = Update::new(("p".into(), "s".into()))
            .set("stage", "offer")
            .set_if_absent("name", "Aida")
            .add("submissions", 1)
            .add_to_set("phones", vec!["+77011234567".into()])
            .delete_from_set("emails", vec!["a@b.kz".into()])
            .remove("GSI1PK");
        let mut e = Expr::default();
        assert_eq!(
            e.update(&u),
            "SET #a0 = :v0, #a1 = if_not_exists(#a1, :v1) ADD #a2 :v2, #a3 :v3 DELETE #a4 :v4 REMOVE #a5"
        );
        let cond = Cond::item_exists().and(Cond::eq("stage", "new"));
        assert_eq!(
            e.condition(&cond),
            "(attribute_exists(#a6)) AND (#a0 = :v5)"
        );
        let (names, values) = e.into_maps();
        assert_eq!(names.unwrap()["#a1"], "name");
        assert_eq!(
            values.unwrap()[":v3"],
            AttributeValue::Ss(vec!["+77011234567".into()])
        );
    }

    #[test]
    fn negation_and_prefixes() {
        let mut e = Expr::default();
        let c = !Cond::BeginsWith("SK".into(), "MSG#".into()).or(Cond::absent("x"));
        assert_eq!(
            e.condition(&c),
            "NOT ((begins_with(#a0, :v0)) OR (attribute_not_exists(#a1)))"
        );
    }
}
