//! The SQLite schema's migrations keep what was stored before them.

use super::*;

#[tokio::test]
async fn items_stored_before_the_transcript_table_was_clustered_survive_the_migration() {
    use sqlx::ConnectOptions;
    use std::str::FromStr;

    // A database as the first schema left it, with a contact, a participant and two items.
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("first-schema-only");
    std::fs::create_dir(&migrations).unwrap();
    let first = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite/0001_chat.sql"
    );
    std::fs::copy(first, migrations.join("0001_chat.sql")).unwrap();
    let path = dir.path().join("store.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let t0 = switchboard::clock::to_millis(start_time());
    for statement in [
        format!(
            "INSERT INTO contacts (id, instance_id, initial_contact_id, contact_flow_id,
                 customer_participant_id, attributes, details, duration_minutes, initiated_at,
                 expires_at, updated_at)
             VALUES ('c1', 'i', 'c1', 'f', 'p1', '{{}}', '{{}}', 60, {t0}, {}, {t0})",
            t0 + 3_600_000
        ),
        format!(
            "INSERT INTO participants (id, contact_id, role, display_name, joined_at)
             VALUES ('p1', 'c1', 'CUSTOMER', 'Customer', {t0})"
        ),
        format!(
            "INSERT INTO items (contact_id, seq, id, type, content_type, content, participant_id,
                 display_name, participant_role, absolute_time, client_token)
             VALUES ('c1', 1, 'm1', 'MESSAGE', 'text/plain', 'one', 'p1', 'Customer', 'CUSTOMER',
                     {}, 'tok-1'),
                    ('c1', 2, 'm2', 'MESSAGE', 'text/plain', 'two', 'p1', 'Customer', 'CUSTOMER',
                     {}, NULL)",
            t0 + 1000,
            t0 + 2000
        ),
    ] {
        sqlx::query(&statement).execute(&mut conn).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();

    // Opening the store applies the later migrations; everything is still there and still works.
    let clock = Arc::new(ManualClock::new(start_time() + Duration::seconds(10)));
    let store = open(dir.path(), clock).await;
    let items = store
        .items("c1", Range::Forward { from: 1, limit: 10 })
        .await
        .unwrap();
    let contents: Vec<_> = items.iter().map(|i| i.content.clone().unwrap()).collect();
    assert_eq!(contents, ["one", "two"]);
    assert_eq!(store.item("c1", "m2").await.unwrap().unwrap().seq, 2);
    // The old ClientToken still answers with the old item; a new message follows the old ones.
    let retried = store
        .append_item("c1", message("m1-again", "p1", "one"), Some("tok-1".into()))
        .await
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.id, "m1");
    let next = store
        .append_item("c1", message("m3", "p1", "three"), None)
        .await
        .unwrap();
    assert_eq!(next.seq, 3);
    assert_eq!(store.last_seq("c1").await.unwrap(), 3);
}
