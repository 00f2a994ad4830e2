//! Ids Ferry assigns: a type prefix and a UUIDv7, so they sort by creation time and say
//! what they name (`evt_…`, `job_…`).

pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

pub fn new_job_id() -> String {
    format!("job_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_unique_and_sortable() {
        let a = super::new_job_id();
        let b = super::new_job_id();
        assert!(a.starts_with("job_") && a.len() == 36);
        assert_ne!(a, b);
        assert!(a < b, "UUIDv7 ids sort by creation");
        assert!(ferry_domain::event::validate_event_id(&super::new_event_id()).is_ok());
    }
}
