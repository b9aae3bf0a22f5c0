//! Group operations: list a broker's groups, describe a group, remove static members from one, delete one.

use bytes::Bytes;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, LeaveGroupRequest,
    ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::operation::{
    broker_error, coordinator_retry, unexpected, unexpected_for_group, AdminError, AdminOperation,
    AdminTarget, Answer, AnswerRetry,
};
use crate::client::BrokerId;
use crate::protocol::{Request, Response};

pub(crate) fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

/// A group a broker coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// Empty where the broker does not say (ListGroups before v4).
    pub state: String,
    pub protocol_type: String,
}

/// ListGroups at one broker: the groups it coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroups {
    pub broker: BrokerId,
}

impl AdminOperation for ListGroups {
    type Output = Vec<GroupListing>;
    const API: ApiKey = ApiKey::ListGroups;

    fn target(&self) -> AdminTarget {
        AdminTarget::Broker(self.broker)
    }

    fn request(&self) -> Request {
        Request::ListGroups(ListGroupsRequest::default())
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::ListGroups(r) => coordinator_retry(r.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::ListGroups(response) = answer.response else {
            return Err(unexpected(Self::API, &answer.response));
        };
        broker_error(Self::API, response.error_code, None)?;
        Ok(response
            .groups
            .iter()
            .map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
            })
            .collect())
    }
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The assignment bytes; under protocol type "consumer", `protocol::consumer_protocol` reads them.
    pub assignment: Bytes,
}

/// A group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub coordinator: BrokerId,
    pub state: String,
    pub protocol_type: String,
    /// The assignment protocol the group chose (`range`, …), empty between generations.
    pub protocol: String,
    pub members: Vec<GroupMemberDescription>,
}

/// DescribeGroups for one group, at its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroup {
    pub group: String,
}

impl AdminOperation for DescribeGroup {
    type Output = GroupDescription;
    const API: ApiKey = ApiKey::DescribeGroups;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        Request::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![group_id(&self.group)]),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::DescribeGroups(r) => coordinator_retry(r.groups.first()?.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::DescribeGroups(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        let Some(described) = response.groups.first() else {
            return Err(AdminError::Missing {
                api: Self::API,
                what: format!("group {}", self.group),
            });
        };
        broker_error(
            Self::API,
            described.error_code,
            described.error_message.as_deref(),
        )?;
        Ok(GroupDescription {
            group_id: self.group,
            coordinator: answer.broker,
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members: described
                .members
                .iter()
                .map(|m| GroupMemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                    client_id: m.client_id.to_string(),
                    client_host: m.client_host.to_string(),
                    assignment: m.member_assignment.clone(),
                })
                .collect(),
        })
    }
}

/// DeleteGroups for one group (and its committed offsets), at its coordinator; refused with NON_EMPTY_GROUP
/// while it has members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroup {
    pub group: String,
}

impl AdminOperation for DeleteGroup {
    type Output = ();
    const API: ApiKey = ApiKey::DeleteGroups;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        Request::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group_id(&self.group)]),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::DeleteGroups(r) => coordinator_retry(r.results.first()?.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::DeleteGroups(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        let Some(result) = response
            .results
            .iter()
            .find(|r| r.group_id.0.as_str() == self.group)
        else {
            return Err(AdminError::Missing {
                api: Self::API,
                what: format!("group {}", self.group),
            });
        };
        broker_error(Self::API, result.error_code, None)
    }
}

/// LeaveGroup on behalf of static members (KIP-345, as the Java admin client's `removeMembersFromConsumerGroup`):
/// a static member does not leave when it closes, so its group stays non-empty, and refuses offsets committed
/// from outside it, until its session times out — unless it is removed by its `group.instance.id`. Each member
/// is named by its instance id and, where known (from [`DescribeGroup`]), its member id: some brokers (tansu)
/// find a member by its member id only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveStaticMembers {
    pub group: String,
    /// `(group.instance.id, member id or "")`.
    pub members: Vec<(String, String)>,
}

impl AdminOperation for RemoveStaticMembers {
    /// Per instance id: removed, or why not (UNKNOWN_MEMBER_ID: it was not a member).
    type Output = Vec<(String, Result<(), AdminError>)>;
    const API: ApiKey = ApiKey::LeaveGroup;

    fn target(&self) -> AdminTarget {
        AdminTarget::GroupCoordinator(self.group.clone())
    }

    fn request(&self) -> Request {
        let members = self
            .members
            .iter()
            .map(|(instance_id, member_id)| {
                MemberIdentity::default()
                    .with_member_id(StrBytes::from_string(member_id.clone()))
                    .with_group_instance_id(Some(StrBytes::from_string(instance_id.clone())))
            })
            .collect();
        Request::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_members(members),
        )
    }

    fn retry(response: &Response) -> Option<AnswerRetry> {
        match response {
            Response::LeaveGroup(r) => coordinator_retry(r.error_code),
            _ => None,
        }
    }

    fn read(self, answer: Answer) -> Result<Self::Output, AdminError> {
        let Response::LeaveGroup(response) = &answer.response else {
            return Err(unexpected_for_group(
                Self::API,
                &self.group,
                &answer.response,
            ));
        };
        broker_error(Self::API, response.error_code, None)?;
        Ok(response
            .members
            .iter()
            .map(|m| {
                let id = m
                    .group_instance_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default();
                (id, broker_error(Self::API, m.error_code, None))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::errors::ResponseError;
    use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    use kafka_protocol::messages::{DeleteGroupsResponse, DescribeGroupsResponse};

    #[test]
    fn group_operations_go_to_the_coordinator_and_retry_when_it_moved() {
        let op = DescribeGroup { group: "g".into() };
        assert_eq!(op.target(), AdminTarget::GroupCoordinator("g".into()));
        let moved = Response::DescribeGroups(DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default()
                .with_group_id(group_id("g"))
                .with_error_code(ResponseError::NotCoordinator.code()),
        ]));
        assert_eq!(
            DescribeGroup::retry(&moved),
            Some(AnswerRetry::AfterRediscovery)
        );
        let stable = Response::DescribeGroups(DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default()
                .with_group_id(group_id("g"))
                .with_group_state(StrBytes::from_static_str("Stable")),
        ]));
        assert_eq!(DescribeGroup::retry(&stable), None);
        let described = op
            .read(Answer {
                broker: 4,
                response: stable,
            })
            .unwrap();
        assert_eq!(
            (described.coordinator, described.state.as_str()),
            (4, "Stable")
        );
    }

    #[test]
    fn deleting_a_group_with_members_is_refused_with_its_error() {
        let answer = Response::DeleteGroups(DeleteGroupsResponse::default().with_results(vec![
            DeletableGroupResult::default()
                .with_group_id(group_id("g"))
                .with_error_code(ResponseError::NonEmptyGroup.code()),
        ]));
        let error = DeleteGroup { group: "g".into() }
            .read(Answer {
                broker: 1,
                response: answer,
            })
            .unwrap_err();
        assert_eq!(error.response_error(), Some(ResponseError::NonEmptyGroup));
    }

    #[test]
    fn static_members_are_removed_by_their_instance_ids() {
        use kafka_protocol::messages::leave_group_response::MemberResponse;
        use kafka_protocol::messages::LeaveGroupResponse;
        let op = RemoveStaticMembers {
            group: "g".into(),
            members: vec![
                ("p-0".into(), "p-0-abc".into()),
                ("p-1".into(), String::new()),
            ],
        };
        let Request::LeaveGroup(request) = op.request() else {
            panic!("a LeaveGroup")
        };
        let ids: Vec<Option<&str>> = request
            .members
            .iter()
            .map(|m| m.group_instance_id.as_ref().map(|id| id.as_str()))
            .collect();
        assert_eq!(ids, [Some("p-0"), Some("p-1")]);
        let member_ids: Vec<&str> = request
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(member_ids, ["p-0-abc", ""]);
        let answer = Response::LeaveGroup(LeaveGroupResponse::default().with_members(vec![
            MemberResponse::default()
                .with_group_instance_id(Some(StrBytes::from_static_str("p-0"))),
            MemberResponse::default()
                .with_group_instance_id(Some(StrBytes::from_static_str("p-1")))
                .with_error_code(ResponseError::UnknownMemberId.code()),
        ]));
        let outcomes = op
            .read(Answer {
                broker: 1,
                response: answer,
            })
            .unwrap();
        assert_eq!(outcomes[0], ("p-0".into(), Ok(())));
        assert_eq!(
            outcomes[1].1.as_ref().unwrap_err().response_error(),
            Some(ResponseError::UnknownMemberId)
        );
    }
}
