//! Topic operations: create, delete, and describe the cluster (brokers, topics, partitions, leaders).

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::operation::{
    broker_error, unexpected, AdminError, AdminOperation, AdminTarget, Answer, AnswerRetry,
};
use crate::client::errors::{response_error, ResponseError};
use crate::client::BrokerId;
use crate::protocol::{Request, Response};

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// What the controller said about one topic of a create or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOutcome {
    pub name: String,
    pub result: Result<(), AdminError>,
}

/// The retry a topic-level error asks for: the controller moved (NOT_CONTROLLER) or is still loading.
fn controller_retry(codes: impl Iterator<Item = i16>) -> Option<AnswerRetry> {
    let mut retry = None;
    for error in codes.filter_map(response_error) {
        match error {
            ResponseError::NotController => return Some(AnswerRetry::AfterMetadataRefresh),
            ResponseError::CoordinatorLoadInProgress => retry = Some(AnswerRetry::AfterBackoff),
            _ => {}
        }
    }
    retry
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    /// -1: the broker's default.
    pub replication_factor: i16,
    /// Topic configs (`cleanup.policy`, …); the broker's defaults for the rest.
    pub configs: Vec<(String, String)>,
}

/// CreateTopics, at the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopics {
    pub topics: Vec<NewTopic>,
    /// How long the controller may take to create them.
    pub timeout_ms: i32,
}

impl AdminOperation for CreateTopics {
    type Output = Vec<TopicOutcome>;
    const API: ApiKey = ApiKey::CreateTopics;

    fn target(&self) -> AdminTarget {
        AdminTarget::Controller
    }

    fn request(&self) -> Request {
        Request::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(self.timeout_ms)
                .with_topics(
                    self.topics
                        .iter()
                        .map(|t| {
                            CreatableTopic::default()
                                .with_name(topic_name(&t.name))
                                .with_num_partitions(t.partitions)
                                .with_replication_factor(t.replication_factor)
                                .with_configs(
                                    t.configs
                                        .iter()
                                        .map(|(name, value)| {
                                            CreatableTopicConfig::default()
                                                .with_name(StrBytes::from_string(name.clone()))
                                                .with_value(Some(StrBytes::from_string(
                                                    value.clone(),
                                                )))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::CreateTopics(r) => controller_retry(r.topics.iter().map(|t| t.error_code)),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::CreateTopics(response) = answer.response else {
            return Err(unexpected(Self::API, &answer.response));
        };
        if response.topics.is_empty() {
            return Err(AdminError::Missing {
                api: Self::API,
                what: "any topic".into(),
            });
        }
        Ok(response
            .topics
            .iter()
            .map(|t| TopicOutcome {
                name: t.name.0.to_string(),
                result: broker_error(Self::API, t.error_code, t.error_message.as_deref()),
            })
            .collect())
    }
}

/// DeleteTopics by name, at the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopics {
    pub names: Vec<String>,
    pub timeout_ms: i32,
}

impl AdminOperation for DeleteTopics {
    type Output = Vec<TopicOutcome>;
    const API: ApiKey = ApiKey::DeleteTopics;

    fn target(&self) -> AdminTarget {
        AdminTarget::Controller
    }

    fn request(&self) -> Request {
        Request::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_timeout_ms(self.timeout_ms)
                .with_topic_names(self.names.iter().map(|n| topic_name(n)).collect()),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::DeleteTopics(r) => controller_retry(r.responses.iter().map(|t| t.error_code)),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::DeleteTopics(response) = answer.response else {
            return Err(unexpected(Self::API, &answer.response));
        };
        if response.responses.is_empty() {
            return Err(AdminError::Missing {
                api: Self::API,
                what: "any topic".into(),
            });
        }
        Ok(response
            .responses
            .iter()
            .map(|t| TopicOutcome {
                name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                result: broker_error(Self::API, t.error_code, t.error_message.as_deref()),
            })
            .collect())
    }
}

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerDescription {
    pub id: BrokerId,
    pub host: String,
    pub port: i32,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    /// -1 while the partition has no leader.
    pub leader: BrokerId,
    pub replicas: Vec<BrokerId>,
    pub in_sync_replicas: Vec<BrokerId>,
    pub error: Option<ResponseError>,
}

/// One topic and its partitions (`error` set and no partitions where the broker refused to describe it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub error: Option<ResponseError>,
    pub partitions: Vec<PartitionDescription>,
}

/// The brokers, the controller and the topics asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller: Option<BrokerId>,
    pub brokers: Vec<BrokerDescription>,
    pub topics: Vec<TopicDescription>,
}

impl ClusterDescription {
    pub fn topic(&self, name: &str) -> Option<&TopicDescription> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// Every partition of every topic described (what a group may have committed offsets for).
    pub fn partitions(&self) -> Vec<crate::client::consumer::TopicPartition> {
        self.topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    crate::client::consumer::TopicPartition::new(t.name.as_str(), p.partition)
                })
            })
            .collect()
    }

    fn from_response(response: &MetadataResponse) -> Self {
        let ids = |ids: &[kafka_protocol::messages::BrokerId]| ids.iter().map(|i| i.0).collect();
        Self {
            cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
            controller: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
            brokers: response
                .brokers
                .iter()
                .map(|b| BrokerDescription {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                })
                .collect(),
            topics: response
                .topics
                .iter()
                .filter_map(|t| {
                    Some(TopicDescription {
                        name: t.name.as_ref()?.0.to_string(),
                        error: response_error(t.error_code),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| PartitionDescription {
                                partition: p.partition_index,
                                leader: p.leader_id.0,
                                replicas: ids(&p.replica_nodes),
                                in_sync_replicas: ids(&p.isr_nodes),
                                error: response_error(p.error_code),
                            })
                            .collect(),
                    })
                })
                .collect(),
        }
    }
}

/// DescribeConfigs of one topic: the values of `keys` (every config with an empty list), by name; a config
/// the broker has no value for is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTopicConfigs {
    pub topic: String,
    pub keys: Vec<String>,
}

/// DescribeConfigs' resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;

impl AdminOperation for DescribeTopicConfigs {
    type Output = std::collections::BTreeMap<String, String>;
    const API: ApiKey = ApiKey::DescribeConfigs;

    fn target(&self) -> AdminTarget {
        AdminTarget::AnyBroker
    }

    fn request(&self) -> Request {
        let keys = (!self.keys.is_empty()).then(|| {
            self.keys
                .iter()
                .map(|k| StrBytes::from_string(k.clone()))
                .collect()
        });
        Request::DescribeConfigs(DescribeConfigsRequest::default().with_resources(
            vec![DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(StrBytes::from_string(self.topic.clone()))
                .with_configuration_keys(keys)],
        ))
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::DescribeConfigs(response) = &answer.response else {
            return Err(unexpected(Self::API, &answer.response));
        };
        let result = response
            .results
            .iter()
            .find(|r| r.resource_name.as_str() == self.topic)
            .ok_or_else(|| AdminError::Missing {
                api: Self::API,
                what: format!("topic {}", self.topic),
            })?;
        broker_error(
            Self::API,
            result.error_code,
            result.error_message.as_deref(),
        )?;
        Ok(result
            .configs
            .iter()
            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
            .collect())
    }
}

/// Metadata for `topics` (every topic with `None`, none with an empty list), never creating one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeCluster {
    pub topics: Option<Vec<String>>,
}

impl AdminOperation for DescribeCluster {
    type Output = ClusterDescription;
    const API: ApiKey = ApiKey::Metadata;

    fn target(&self) -> AdminTarget {
        AdminTarget::AnyBroker
    }

    fn request(&self) -> Request {
        let topics = self.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        });
        Request::Metadata(
            MetadataRequest::default()
                .with_topics(topics)
                .with_allow_auto_topic_creation(false),
        )
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        match &answer.response {
            Response::Metadata(response) => Ok(ClusterDescription::from_response(response)),
            other => Err(unexpected(Self::API, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::CreateTopicsResponse;

    fn created(errors: &[(&str, Option<ResponseError>)]) -> Response {
        Response::CreateTopics(
            CreateTopicsResponse::default().with_topics(
                errors
                    .iter()
                    .map(|(name, error)| {
                        CreatableTopicResult::default()
                            .with_name(topic_name(name))
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect(),
            ),
        )
    }

    #[test]
    fn create_topics_goes_to_the_controller_and_retries_not_controller() {
        let op = CreateTopics {
            topics: vec![NewTopic {
                name: "t".into(),
                partitions: 3,
                replication_factor: -1,
                configs: Vec::new(),
            }],
            timeout_ms: 5_000,
        };
        assert_eq!(op.target(), AdminTarget::Controller);
        let Request::CreateTopics(request) = op.request() else {
            panic!("CreateTopics expected")
        };
        assert_eq!(request.timeout_ms, 5_000);
        assert_eq!(request.topics[0].num_partitions, 3);
        assert_eq!(
            CreateTopics::retry(&created(&[("t", Some(ResponseError::NotController))])),
            Some(AnswerRetry::AfterMetadataRefresh)
        );
        assert_eq!(
            CreateTopics::retry(&created(&[("t", Some(ResponseError::TopicAlreadyExists))])),
            None
        );
        let outcomes = op
            .read(Answer {
                broker: 1,
                response: created(&[("t", Some(ResponseError::TopicAlreadyExists))]),
            })
            .unwrap();
        assert_eq!(outcomes[0].name, "t");
        assert_eq!(
            outcomes[0].result.as_ref().unwrap_err().response_error(),
            Some(ResponseError::TopicAlreadyExists)
        );
    }
}
