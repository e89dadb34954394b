//! A small builder for DynamoDB update and condition expressions. Every attribute name
//! goes through a placeholder, so reserved words (`name`, `source`, `status`, ...) are safe.

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use std::collections::HashMap;

#[derive(Default, Debug)]
pub struct Expr {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    condition: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Expr {
    pub fn name(&mut self, attr: &str) -> String {
        let key = format!("#{attr}");
        self.names.insert(key.clone(), attr.to_owned());
        key
    }

    pub fn value(&mut self, v: AttributeValue) -> String {
        let key = format!(":v{}", self.values.len());
        self.values.insert(key.clone(), v);
        key
    }

    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.set.push(format!("{n} = {v}"));
        self
    }

    pub fn set_opt(&mut self, attr: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.set(attr, s(v));
        }
        self
    }

    pub fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.set.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD`: numbers are incremented, sets are unioned.
    pub fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.add.push(format!("{n} {v}"));
        self
    }

    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.remove.push(n);
        self
    }

    pub fn require_exists(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.condition.push(format!("attribute_exists({n})"));
        self
    }

    pub fn require_absent(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.condition.push(format!("attribute_not_exists({n})"));
        self
    }

    pub fn require_eq(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        self.condition.push(format!("{n} = {v}"));
        self
    }

    pub fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }

    pub fn condition_expression(&self) -> Option<String> {
        (!self.condition.is_empty()).then(|| self.condition.join(" AND "))
    }

    /// The update as a `TransactWriteItems` action on `key`.
    pub fn into_update(
        self,
        table: &str,
        pk: String,
        sk: String,
    ) -> Result<Update, aws_sdk_dynamodb::error::BuildError> {
        Update::builder()
            .table_name(table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression(self.update_expression())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
    }

    pub fn names(&self) -> &HashMap<String, String> {
        &self.names
    }

    pub fn values(&self) -> &HashMap<String, AttributeValue> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_set_add_remove_and_conditions() {
        let mut e = Expr::default();
        e.set("stage", s("offer"))
            .set_if_absent("name", s("Aida"))
            .add("submissions", n(1))
            .remove("GSI1PK")
            .require_exists("PK")
            .require_eq("stage", s("new"));
        assert_eq!(
            e.update_expression(),
            "SET #stage = :v0, #name = if_not_exists(#name, :v1) ADD #submissions :v2 REMOVE #GSI1PK"
        );
        assert_eq!(
            e.condition_expression().unwrap(),
            "attribute_exists(#PK) AND #stage = :v3"
        );
        assert_eq!(e.names()["#stage"], "stage");
        assert_eq!(e.values()[":v3"], s("new"));
    }
}
