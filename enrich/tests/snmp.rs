//! The SNMP poller against a real agent: Debian's net-snmp `snmpd`, started by
//! `scripts/snmpd.sh` on a loopback address with a static interface table (the script lists it).
//! Each test starts its own agent (own address, port and directory). Without snmpd the tests
//! fail, unless `SLUICE_TEST_ALLOW_SKIP=1` (then they print `SKIPPED` and return).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enrich::snmp::{
    PollError, PolledInterface, Poller, SnmpAuthProtocol, SnmpCache, SnmpCommunityConfig,
    SnmpConfig, SnmpPrivacyProtocol, SnmpSecurityLevel, SnmpV3Config, poll_exporter,
};
use testkit::snmpd::Agent;

/// A config that reaches `agent` with its v2c community.
fn v2c(agent: &Agent) -> SnmpConfig {
    SnmpConfig {
        port: agent.port,
        timeout_ms: 500,
        retries: 1,
        communities: vec![SnmpCommunityConfig {
            exporter: format!("{}/32", agent.ip),
            community: agent.var("SLUICE_TEST_SNMP_COMMUNITY"),
        }],
        community: "not-this-one".to_string(),
        ..SnmpConfig::default()
    }
}

fn row(i: u32, name: &str, description: Option<&str>, speed: Option<u64>) -> PolledInterface {
    PolledInterface {
        if_index: i,
        name: Some(name.to_string()),
        description: description.map(str::to_string),
        speed_mbps: speed,
    }
}

/// The table scripts/snmpd.sh serves, as the poller reads it from ifXTable.
fn static_table() -> Vec<PolledInterface> {
    vec![
        row(1, "Gi0/0/0", Some("transit: ISP-A"), Some(1000)),
        row(2, "Gi0/0/1", Some("peering: IX-B"), Some(1000)),
        row(7, "Te0/1/0", None, Some(10_000)),
        row(1_000_001, "Po1", Some("customer: ACME"), Some(20_000)),
    ]
}

#[tokio::test]
async fn a_v2c_poll_returns_exactly_the_agents_static_table() {
    let Some(agent) = Agent::start("a_v2c_poll_returns_exactly_the_agents_static_table", "full")
    else {
        return;
    };
    let cfg = v2c(&agent).validate().unwrap();
    let rows = poll_exporter(&cfg, agent.ip).await.expect("v2c poll");
    assert_eq!(rows, static_table());
}

#[tokio::test]
async fn a_v3_auth_priv_poll_returns_exactly_the_agents_static_table() {
    let Some(agent) = Agent::start(
        "a_v3_auth_priv_poll_returns_exactly_the_agents_static_table",
        "full",
    ) else {
        return;
    };
    assert_eq!(agent.var("SLUICE_TEST_SNMP_V3_AUTH"), "sha");
    assert_eq!(agent.var("SLUICE_TEST_SNMP_V3_PRIV"), "aes");
    let cfg = SnmpConfig {
        port: agent.port,
        timeout_ms: 1000,
        // No community works: the rows can only come over v3.
        community: "not-this-one".to_string(),
        v3: vec![SnmpV3Config {
            exporter: "127.0.0.0/8".to_string(),
            user: agent.var("SLUICE_TEST_SNMP_V3_USER"),
            security_level: SnmpSecurityLevel::AuthPriv,
            auth_protocol: Some(SnmpAuthProtocol::Sha),
            auth_password: Some(agent.var("SLUICE_TEST_SNMP_V3_AUTH_PASSWORD")),
            privacy_protocol: Some(SnmpPrivacyProtocol::Aes),
            privacy_password: Some(agent.var("SLUICE_TEST_SNMP_V3_PRIV_PASSWORD")),
        }],
        ..SnmpConfig::default()
    };
    let rows = poll_exporter(&cfg.validate().unwrap(), agent.ip)
        .await
        .expect("v3 authPriv poll");
    assert_eq!(rows, static_table());
}

#[tokio::test]
async fn v3_polls_work_with_aes256_des_and_sha512_without_privacy() {
    let Some(agent) = Agent::start(
        "v3_polls_work_with_aes256_des_and_sha512_without_privacy",
        "full",
    ) else {
        return;
    };
    let users = agent.var("SLUICE_TEST_SNMP_V3_MORE_USERS");
    let mut tried = Vec::new();
    for spec in users.split(',') {
        let [user, auth, privacy] = spec.split(':').collect::<Vec<_>>()[..] else {
            panic!("bad SLUICE_TEST_SNMP_V3_MORE_USERS entry {spec:?}");
        };
        let auth_protocol = match auth {
            "sha" => SnmpAuthProtocol::Sha,
            "md5" => SnmpAuthProtocol::Md5,
            "sha512" => SnmpAuthProtocol::Sha512,
            other => panic!("auth {other}"),
        };
        let privacy_protocol = match privacy {
            "aes256" => Some(SnmpPrivacyProtocol::Aes256),
            "des" => Some(SnmpPrivacyProtocol::Des),
            "-" => None,
            other => panic!("privacy {other}"),
        };
        let cfg = SnmpConfig {
            port: agent.port,
            timeout_ms: 1000,
            community: "not-this-one".to_string(),
            v3: vec![SnmpV3Config {
                exporter: agent.ip.to_string(),
                user: user.to_string(),
                security_level: if privacy_protocol.is_some() {
                    SnmpSecurityLevel::AuthPriv
                } else {
                    SnmpSecurityLevel::AuthNoPriv
                },
                auth_protocol: Some(auth_protocol),
                auth_password: Some(agent.var("SLUICE_TEST_SNMP_V3_AUTH_PASSWORD")),
                privacy_protocol,
                privacy_password: privacy_protocol
                    .map(|_| agent.var("SLUICE_TEST_SNMP_V3_PRIV_PASSWORD")),
            }],
            ..SnmpConfig::default()
        };
        let rows = poll_exporter(&cfg.validate().unwrap(), agent.ip)
            .await
            .unwrap_or_else(|e| panic!("v3 poll as {spec}: {e}"));
        assert_eq!(rows, static_table(), "{spec}");
        tried.push(user.to_string());
    }
    assert_eq!(tried, ["sluice-aes256", "sluice-md5", "sluice-sha512"]);
}

#[tokio::test]
async fn a_wrong_v3_passphrase_is_an_error_not_rows() {
    let Some(agent) = Agent::start("a_wrong_v3_passphrase_is_an_error_not_rows", "full") else {
        return;
    };
    let cfg = SnmpConfig {
        port: agent.port,
        timeout_ms: 300,
        retries: 0,
        v3: vec![SnmpV3Config {
            exporter: agent.ip.to_string(),
            user: agent.var("SLUICE_TEST_SNMP_V3_USER"),
            security_level: SnmpSecurityLevel::AuthPriv,
            auth_protocol: Some(SnmpAuthProtocol::Sha),
            auth_password: Some("wrong-passphrase".to_string()),
            privacy_protocol: Some(SnmpPrivacyProtocol::Aes),
            privacy_password: Some(agent.var("SLUICE_TEST_SNMP_V3_PRIV_PASSWORD")),
        }],
        ..SnmpConfig::default()
    };
    let started = Instant::now();
    let err = poll_exporter(&cfg.validate().unwrap(), agent.ip)
        .await
        .expect_err("a wrong passphrase must not give rows");
    assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    assert_eq!(err.agent().ip(), agent.ip);
    // net-snmp answers with a report (wrong digest), which the client refuses to authenticate.
    assert!(
        matches!(
            &err,
            PollError::Security {
                what: "ifName walk",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_ifxtable_the_poll_falls_back_to_ifdescr_and_ifspeed() {
    let Some(agent) = Agent::start(
        "without_ifxtable_the_poll_falls_back_to_ifdescr_and_ifspeed",
        "iftable",
    ) else {
        return;
    };
    let cfg = v2c(&agent).validate().unwrap();
    let rows = poll_exporter(&cfg, agent.ip).await.expect("v2c poll");
    // ifSpeed 4294967295 only says "at least 4.29 Gbit/s": no speed.
    assert_eq!(
        rows,
        vec![
            row(1, "GigabitEthernet0/0/0", None, Some(1000)),
            row(2, "GigabitEthernet0/0/1", None, Some(1000)),
            row(7, "TenGigE0/1/0", None, None),
            row(1_000_001, "Port-channel1", None, None),
        ]
    );
}

#[tokio::test]
async fn a_wrong_community_times_out_with_a_typed_error_after_every_try() {
    let Some(agent) = Agent::start(
        "a_wrong_community_times_out_with_a_typed_error_after_every_try",
        "full",
    ) else {
        return;
    };
    let cfg = SnmpConfig {
        port: agent.port,
        timeout_ms: 300,
        retries: 1,
        community: "wrong-community".to_string(),
        ..SnmpConfig::default()
    };
    let started = Instant::now();
    let err = poll_exporter(&cfg.validate().unwrap(), agent.ip)
        .await
        .expect_err("a wrong community gets no answer");
    let took = started.elapsed();
    assert_eq!(
        err,
        PollError::Timeout {
            agent: (agent.ip, agent.port).into(),
            what: "ifName walk",
            timeout_ms: 300,
            tries: 2,
        }
    );
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{}:{}", agent.ip, agent.port)),
        "{message}"
    );
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_an_error_within_the_timeout() {
    let ip: IpAddr = [127, 0, 0, 1].into();
    let port = testkit::free_port();
    let cfg = SnmpConfig {
        port,
        timeout_ms: 300,
        retries: 1,
        ..SnmpConfig::default()
    };
    let started = Instant::now();
    let err = poll_exporter(&cfg.validate().unwrap(), ip)
        .await
        .expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    assert_eq!(err.agent(), (ip, port).into());
    // On loopback the kernel answers ICMP port unreachable: a socket error, not a wait.
    assert!(
        matches!(
            &err,
            PollError::Socket {
                what: "ifName walk",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Seen = Arc<Mutex<Vec<(IpAddr, Vec<PolledInterface>)>>>;

/// Spawns `poller.run` over `exporters`, recording what `on_result` gets.
fn spawn(
    poller: Poller,
    exporters: Vec<IpAddr>,
) -> (
    Seen,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let seen: Seen = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let record = Arc::clone(&seen);
    let task = tokio::spawn(poller.run(
        move || exporters.clone(),
        move |ip, rows| record.lock().unwrap().push((ip, rows.to_vec())),
        stop_rx,
    ));
    (seen, stop_tx, task)
}

#[tokio::test]
async fn the_poller_counts_a_down_agent_keeps_its_cache_and_hands_it_over_after_a_restart() {
    let Some(agent) = Agent::start(
        "the_poller_counts_a_down_agent_keeps_its_cache_and_hands_it_over_after_a_restart",
        "full",
    ) else {
        return;
    };
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().join("snmp-cache.json");
    let cfg = SnmpConfig {
        interval_secs: 1,
        timeout_ms: 200,
        retries: 0,
        cache: Some(cache.clone()),
        ..v2c(&agent)
    };

    // First run: the agent answers, then goes down.
    let poller = Poller::new(&cfg).unwrap();
    assert!(poller.cache().is_empty());
    let stats = poller.stats();
    let (seen, stop, task) = spawn(poller, vec![agent.ip]);
    wait_for("the first poll", || !seen.lock().unwrap().is_empty()).await;
    assert_eq!(seen.lock().unwrap()[0], (agent.ip, static_table()));
    wait_for("the cache file", || {
        SnmpCache::load(&cache).is_ok_and(|c| c.get(agent.ip).is_some())
    })
    .await;

    agent.stop();
    wait_for("a failed poll", || stats.exporter(agent.ip).failed >= 1).await;
    let counts = stats.exporter(agent.ip);
    assert!(counts.ok >= 1, "{counts:?}");
    assert!(counts.last_error_kind == Some("socket"), "{counts:?}");
    assert!(
        counts
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&agent.port.to_string())),
        "{counts:?}"
    );
    // A failed poll hands nothing over and keeps the cached rows.
    for (ip, rows) in seen.lock().unwrap().iter() {
        assert_eq!((ip, rows), (&agent.ip, &static_table()));
    }
    let on_disk = SnmpCache::load(&cache).unwrap();
    assert_eq!(on_disk.get(agent.ip).unwrap().interfaces, static_table());
    // The poller carries on: it keeps trying (one poll per second).
    let failed = stats.exporter(agent.ip).failed;
    wait_for("another failed poll", || {
        stats.exporter(agent.ip).failed > failed
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops when told")
        .unwrap();

    // Second run, the agent still down: the cached rows come out at once.
    let poller = Poller::new(&cfg).unwrap();
    assert_eq!(
        poller.cache().get(agent.ip).unwrap().interfaces,
        static_table()
    );
    let (seen, stop, task) = spawn(poller, vec![agent.ip]);
    wait_for("the cached rows", || !seen.lock().unwrap().is_empty()).await;
    assert_eq!(seen.lock().unwrap()[0], (agent.ip, static_table()));
    drop(stop); // a dropped sender stops the poller too
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops when its stop sender is gone")
        .unwrap();
}

#[tokio::test]
async fn the_poller_polls_an_exporter_within_seconds_of_it_appearing() {
    let Some(agent) = Agent::start(
        "the_poller_polls_an_exporter_within_seconds_of_it_appearing",
        "full",
    ) else {
        return;
    };
    // The default interval (600 s): only a new exporter is due.
    let poller = Poller::new(&v2c(&agent)).unwrap();
    let stats = poller.stats();
    let exporters: Arc<Mutex<Vec<IpAddr>>> = Arc::default();
    let seen: Seen = Arc::default();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (list, record) = (Arc::clone(&exporters), Arc::clone(&seen));
    let task = tokio::spawn(poller.run(
        move || list.lock().unwrap().clone(),
        move |ip, rows| record.lock().unwrap().push((ip, rows.to_vec())),
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(seen.lock().unwrap().is_empty());
    exporters.lock().unwrap().push(agent.ip);
    let appeared = Instant::now();
    wait_for("the new exporter's poll", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert!(appeared.elapsed() < Duration::from_secs(3));
    assert_eq!(seen.lock().unwrap()[0], (agent.ip, static_table()));
    // Not polled again before the interval is over.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(stats.exporter(agent.ip).ok, 1);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops when told")
        .unwrap();
}
