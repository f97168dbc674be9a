//! Message subcommands: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset,
//! sendMessage, consumeMessage, printMsg.

use std::time::Duration;

use clap::Subcommand;
use mq_client::admin::QueriedMessage;
use mq_client::{Message, MessageExt, MessageQueue, PullConsumer};

use crate::output::{json, message_json, parse_time, print_message};
use crate::Common;

#[derive(Subcommand, Debug)]
pub enum MessageCmd {
    /// Query Message by Id.
    #[command(name = "queryMsgById", visible_alias = "query-msg-by-id")]
    QueryMsgById {
        /// Message Id (offsetMsgId, or the client id when -t is given)
        #[arg(short = 'i', long = "msgId")]
        id: String,
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
        /// consumer group name (with -d: push the message to that client)
        #[arg(short = 'g', long = "consumerGroup", requires = "client_id")]
        group: Option<String>,
        /// the consumer's client id: let it consume the message directly
        #[arg(short = 'd', long = "clientId", requires = "group")]
        client_id: Option<String>,
    },
    /// Query Message by Key.
    #[command(name = "queryMsgByKey", visible_alias = "query-msg-by-key")]
    QueryMsgByKey {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Message Key
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// begin timestamp (ms)
        #[arg(short = 'b', long = "beginTimestamp")]
        begin: Option<i64>,
        /// end timestamp (ms)
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<i64>,
        /// The maximum number of messages returned by the query, default:64
        #[arg(short = 'c', long = "maxNum", default_value_t = 64)]
        max: i32,
    },
    /// Query Message by Unique key.
    #[command(name = "queryMsgByUniqueKey", visible_alias = "query-msg-by-unique-key")]
    QueryMsgByUniqueKey {
        /// Message Id (UNIQ_KEY)
        #[arg(short = 'i', long = "msgId")]
        id: String,
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Query Message by offset.
    #[command(name = "queryMsgByOffset", visible_alias = "query-msg-by-offset")]
    QueryMsgByOffset {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Broker Name
        #[arg(short = 'b', long = "brokerName")]
        broker: String,
        /// Queue Id
        #[arg(short = 'i', long = "queueId")]
        queue: i32,
        /// Queue Offset
        #[arg(short = 'o', long = "offset")]
        offset: i64,
    },
    /// Send a message.
    #[command(name = "sendMessage", visible_alias = "send-message")]
    SendMessage {
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// UTF-8 string format of the message body
        #[arg(short = 'p', long = "body")]
        body: String,
        /// Message keys
        #[arg(short = 'k', long = "key")]
        key: Option<String>,
        /// Message tags
        #[arg(short = 'c', long = "tags")]
        tags: Option<String>,
        /// Send message to target broker
        #[arg(short = 'b', long = "broker")]
        broker: Option<String>,
        /// Send message to target queue
        #[arg(short = 'i', long = "qid")]
        qid: Option<i32>,
    },
    /// Consume message.
    #[command(name = "consumeMessage", visible_alias = "consume-message")]
    ConsumeMessage {
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Broker name
        #[arg(short = 'b', long = "brokerName")]
        broker: Option<String>,
        /// Queue Id
        #[arg(short = 'i', long = "queueId")]
        queue: Option<i32>,
        /// Queue offset
        #[arg(short = 'o', long = "offset")]
        offset: Option<i64>,
        /// Consumer group name
        #[arg(short = 'g', long = "consumerGroup", default_value = "TOOLS_CONSUMER")]
        group: String,
        /// Begin timestamp
        #[arg(short = 's', long = "beginTimestamp")]
        begin: Option<String>,
        /// End timestamp
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<String>,
        /// Message count
        #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
        count: usize,
    },
    /// Print Message Detail.
    #[command(name = "printMsg", visible_alias = "print-msg")]
    PrintMsg {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// CharsetName(eg: UTF-8,GBK) (accepted; bodies print as UTF-8)
        #[arg(short = 'c', long = "charsetName")]
        charset: Option<String>,
        /// Subscribe Expression(eg: TagA || TagB)
        #[arg(short = 's', long = "subExpression", default_value = "*")]
        sub: String,
        /// Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
        #[arg(short = 'b', long = "beginTimestamp")]
        begin: Option<String>,
        /// End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<String>,
        /// print msg body
        #[arg(short = 'd', long = "printBody", default_value_t = true, action = clap::ArgAction::Set)]
        print_body: bool,
    },
}

fn show(c: &Common, msgs: &[MessageExt]) {
    if c.json {
        json(&msgs.iter().map(message_json).collect::<Vec<_>>());
    } else {
        for (i, m) in msgs.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_message(m);
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Read queues from their start offsets until their end (or `count` messages).
async fn dump(
    c: &Common,
    topic: &str,
    sub: &str,
    group: &str,
    filter: impl Fn(&MessageQueue) -> bool,
    start: Option<i64>,
    begin: Option<i64>,
    end: Option<i64>,
    count: usize,
    print: impl Fn(&MessageExt),
) -> anyhow::Result<usize> {
    let consumer =
        PullConsumer::builder().client_options(c.client_options()?).group(group).start().await?;
    let admin = c.admin().await?;
    let stats = admin.topic_status(topic).await?;
    let queues: Vec<MessageQueue> = stats.keys().filter(|q| filter(q)).cloned().collect();
    consumer.assign(&queues, sub).await;
    let mut printed = 0;
    for mq in &queues {
        let max = stats[mq].max_offset;
        let from = match (start, begin) {
            (Some(o), _) => o,
            (None, Some(ts)) => {
                let addr = admin
                    .topic_route(topic)
                    .await?
                    .broker_datas
                    .iter()
                    .find(|b| b.broker_name == mq.broker_name)
                    .and_then(|b| b.master_addr().map(str::to_string));
                match addr {
                    Some(a) => {
                        admin.api().search_offset(&a, mq, ts).await.unwrap_or(stats[mq].min_offset)
                    }
                    None => stats[mq].min_offset,
                }
            }
            (None, None) => stats[mq].min_offset,
        };
        consumer.assign(std::slice::from_ref(mq), sub).await;
        consumer.seek(mq, from)?;
        while consumer.position(mq).unwrap_or(max) < max && printed < count {
            let msgs = consumer.poll(Duration::from_secs(3)).await?;
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                if end.is_some_and(|e| m.store_timestamp > e) || printed >= count {
                    continue;
                }
                print(&m);
                printed += 1;
            }
        }
    }
    consumer.shutdown().await;
    Ok(printed)
}

impl MessageCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let admin = c.admin().await?;
        match self {
            MessageCmd::QueryMsgById { id, topic, group: Some(group), client_id: Some(client) } => {
                let r = admin.consume_message_directly(&group, &client, &id).await?;
                if c.json {
                    json(&r);
                } else {
                    println!("{}", serde_json::to_string(&r)?);
                }
                let _ = topic;
            }
            MessageCmd::QueryMsgById { id, topic, .. } => {
                let found = admin.query_msg_by_id(topic.as_deref(), &id).await?;
                if found.is_empty() {
                    anyhow::bail!("message {id} not found");
                }
                show(c, &found.into_iter().map(|q| q.message).collect::<Vec<_>>());
            }
            MessageCmd::QueryMsgByUniqueKey { id, topic } => {
                let found = admin.query_msg_by_id(Some(&topic), &id).await?;
                if found.is_empty() {
                    anyhow::bail!("message {id} not found");
                }
                show(c, &found.into_iter().map(|q| q.message).collect::<Vec<_>>());
            }
            MessageCmd::QueryMsgByKey { topic, key, begin, end, max } => {
                // Per broker: a dead broker is a warning, the live brokers' matches are shown.
                let per = admin
                    .query_msg_by_key_per_broker(
                        &topic,
                        &key,
                        max,
                        begin.unwrap_or(0),
                        end.unwrap_or(i64::MAX),
                    )
                    .await?;
                for f in &per.failed {
                    eprintln!("warning: {f}");
                }
                if per.all_failed() {
                    anyhow::bail!("every broker of {topic} failed");
                }
                let found: Vec<QueriedMessage> = per
                    .ok
                    .into_iter()
                    .flat_map(|(b, msgs)| {
                        msgs.into_iter()
                            .map(move |m| QueriedMessage { broker: b.name.clone(), message: m })
                    })
                    .collect();
                if c.json {
                    json(&found.iter().map(|q| message_json(&q.message)).collect::<Vec<_>>());
                } else {
                    println!("{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset");
                    for q in found {
                        println!(
                            "{:<50} {:>4} {:>40}",
                            q.message.msg_id(),
                            q.message.queue_id,
                            q.message.queue_offset
                        );
                    }
                }
            }
            MessageCmd::QueryMsgByOffset { topic, broker, queue, offset } => {
                let mq = MessageQueue::new(&topic, &broker, queue);
                match admin.query_msg_by_offset(&mq, offset).await? {
                    Some(m) => show(c, &[m]),
                    None => anyhow::bail!("no message at {mq} offset {offset}"),
                }
            }
            MessageCmd::SendMessage { topic, body, key, tags, broker, qid } => {
                let mut msg = Message::new(&topic, body.into_bytes());
                if let Some(k) = key {
                    msg.set_keys(k.split(' '));
                }
                if let Some(t) = tags {
                    msg.set_tags(t);
                }
                let queue = match (broker, qid) {
                    (Some(b), Some(q)) => Some(MessageQueue::new(&topic, b, q)),
                    (Some(b), None) => Some(MessageQueue::new(&topic, b, 0)),
                    _ => None,
                };
                let r = admin.send_message(msg, queue).await?;
                if c.json {
                    json(
                        &serde_json::json!({"brokerName": r.message_queue.broker_name, "queueId": r.message_queue.queue_id, "status": format!("{:?}", r.status), "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id, "queueOffset": r.queue_offset}),
                    );
                } else {
                    println!(
                        "{:<32}  {:<4}  {:<20}    {}",
                        "#Broker Name", "#QID", "#Send Result", "#MsgId"
                    );
                    println!(
                        "{:<32}  {:<4}  {:<20}    {}",
                        r.message_queue.broker_name, r.message_queue.queue_id, "SEND_OK", r.msg_id
                    );
                }
            }
            MessageCmd::ConsumeMessage {
                topic,
                broker,
                queue,
                offset,
                group,
                begin,
                end,
                count,
            } => {
                let begin = begin.as_deref().map(parse_time).transpose()?;
                let end = end.as_deref().map(parse_time).transpose()?;
                let json_mode = c.json;
                let n = dump(
                    c,
                    &topic,
                    "*",
                    &group,
                    |q| {
                        broker.as_ref().is_none_or(|b| &q.broker_name == b)
                            && queue.is_none_or(|i| q.queue_id == i)
                    },
                    offset,
                    begin,
                    end,
                    count,
                    |m| {
                        if json_mode {
                            println!("{}", message_json(m));
                        } else {
                            println!(
                                "Consume ok, MSGID: {}, QUEUE: {}@{}#{}, OFFSET: {}, BODY: {}",
                                m.msg_id(),
                                m.topic,
                                m.store_host,
                                m.queue_id,
                                m.queue_offset,
                                String::from_utf8_lossy(&m.body)
                            );
                        }
                    },
                )
                .await?;
                if !json_mode {
                    println!("Consumed {n} messages.");
                }
            }
            MessageCmd::PrintMsg { topic, sub, begin, end, print_body, .. } => {
                let begin = begin.as_deref().map(parse_time).transpose()?;
                let end = end.as_deref().map(parse_time).transpose()?;
                let json_mode = c.json;
                dump(
                    c,
                    &topic,
                    &sub,
                    "TOOLS_CONSUMER",
                    |_| true,
                    None,
                    begin,
                    end,
                    usize::MAX,
                    |m| {
                        if json_mode {
                            println!("{}", message_json(m));
                        } else {
                            let body = if print_body {
                                String::from_utf8_lossy(&m.body).into_owned()
                            } else {
                                "NOT PRINT BODY".into()
                            };
                            println!(
                                "MSGID: {} {} BODY: {}",
                                m.msg_id(),
                                format_args!("{}#{}#{}", m.topic, m.queue_id, m.queue_offset),
                                body
                            );
                        }
                    },
                )
                .await?;
            }
        }
        admin.close();
        Ok(())
    }
}
