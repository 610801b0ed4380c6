//! A cluster's members by role, learned with etcdctl alone, so that the
//! same scenario runs against ordo and etcd and names the same things.

use super::transcript::Transcript;
use super::{Etcdctl, json};

/// The members of the cluster a scenario runs against.
pub struct Members {
    /// `HOST:PORT` of the member the scenario talks to: a follower when
    /// there is one (so every write is forwarded), else the leader.
    pub asked: String,
    /// Every member's `HOST:PORT`, comma-separated.
    pub every: String,
    /// The asked member's id.
    pub asked_id: u64,
}

impl Members {
    /// Learns the roles of the members at `endpoints` and names their ids,
    /// names and the cluster id in `transcript`'s context.
    pub async fn learn(
        etcd: &Etcdctl,
        endpoints: &[String],
        transcript: &mut Transcript,
    ) -> Members {
        let every = endpoints.join(",");
        let status = json(
            &etcd
                .at(every.clone())
                .ok(&["endpoint", "status", "-w", "json"])
                .await,
        );
        let rows = status
            .as_array()
            .expect("endpoint status -w json is a list");
        let id_of =
            |row: &serde_json::Value| row["Status"]["header"]["member_id"].as_u64().unwrap();
        let leader = rows[0]["Status"]["leader"].as_u64().unwrap();
        let asked_row = rows
            .iter()
            .find(|row| id_of(row) != leader)
            .unwrap_or(&rows[0]);
        let asked = asked_row["Endpoint"].as_str().unwrap().to_owned();
        let asked_id = id_of(asked_row);
        let cluster = rows[0]["Status"]["header"]["cluster_id"].as_u64().unwrap();

        let listed = json(
            &etcd
                .at(every.clone())
                .ok(&["member", "list", "-w", "json"])
                .await,
        );
        let name_of = |id: u64| {
            listed["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|member| member["ID"].as_u64() == Some(id))
                .and_then(|member| member["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let context = &mut transcript.context;
        context.member("leader", leader, &name_of(leader));
        if asked_id != leader {
            context.member("follower", asked_id, &name_of(asked_id));
        }
        for row in rows {
            let id = id_of(row);
            if id != leader && id != asked_id {
                context.member("other", id, &name_of(id));
            }
        }
        context.cluster(cluster);
        Members {
            asked,
            every,
            asked_id,
        }
    }
}
