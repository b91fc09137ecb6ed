//! Typical tools of the server families agents use (chat, code hosting, payments, cloud,
//! Kubernetes, databases, filesystems, browsers, CRMs, calendars, mail), written for these
//! tests in the style of real servers, through one `check` helper: a definition in, the
//! expected category and risk out. None of them is in the development set.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use serde_json::{Value, json};
use warden_risk::{Assessment, classify};

/// A tool from a name, a description and (optionally) its input properties as
/// `{"name": "type", ...}`.
fn tool(name: &str, description: &str, props: Value) -> Value {
    let mut t = json!({"name": name, "description": description});
    if let Some(map) = props.as_object() {
        let properties: serde_json::Map<String, Value> = map
            .iter()
            .map(|(k, ty)| (k.clone(), json!({"type": ty})))
            .collect();
        t["inputSchema"] = json!({"type": "object", "properties": properties});
    }
    t
}

/// Classifies every case and reports all the wrong ones at once.
fn check(cases: &[(Value, &str, &str)]) {
    let mut wrong = Vec::new();
    for (t, category, risk) in cases {
        let a: Assessment = classify(t);
        if a.category.as_str() != *category || a.risk.as_str() != *risk {
            wrong.push(format!(
                "{}: expected {category}/{risk}, got {}/{} [{}]",
                a.name,
                a.category,
                a.risk,
                a.evidence.join("; ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn chat() {
    check(&[
        (
            tool(
                "slack_list_channels",
                "List public channels in the workspace with pagination",
                json!({"limit": "number"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "slack_post_message",
                "Post a new message to a Slack channel",
                json!({"channel_id": "string", "text": "string"}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "slack_reply_to_thread",
                "Reply to a specific message thread in Slack",
                json!({"channel_id": "string", "thread_ts": "string", "text": "string"}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "slack_get_channel_history",
                "Get recent messages from a channel",
                json!({"channel_id": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "slack_get_thread_replies",
                "Get all replies in a message thread",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "slack_get_user_profile",
                "Get detailed profile information for a specific user",
                json!({"user_id": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "conversations_add_message",
                "Add a message to a public channel, private channel, or direct message (DM, or IM) conversation.",
                json!({}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "chat_search_messages",
                "Search messages across all conversations the user can see.",
                json!({"query": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "discord_send_announcement",
                "Broadcast an announcement to every member of the server.",
                json!({"content": "string"}),
            ),
            "send",
            "critical",
        ),
        (
            tool(
                "telegram_delete_message",
                "Delete a message from a chat.",
                json!({"chat_id": "string", "message_id": "number"}),
            ),
            "destructive",
            "high",
        ),
        (
            tool("mark_as_read", "Mark a conversation as read.", json!({})),
            "write",
            "medium",
        ),
    ]);
}

#[test]
fn code_hosting() {
    check(&[
        (
            tool(
                "create_issue",
                "Create a new issue in a GitHub repository.",
                json!({"owner": "string", "repo": "string", "title": "string", "body": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "create_pull_request",
                "Create a new pull request in a repository.",
                json!({}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "get_file_contents",
                "Get the contents of a file or directory from a repository.",
                json!({"path": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "list_commits",
                "Get a list of commits of a branch in a repository.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "search_issues",
                "Search for issues in GitHub repositories.",
                json!({"q": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "get_me",
                "Get details of the authenticated GitHub user.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "delete_file",
                "Delete a file from a repository.",
                json!({"path": "string"}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "delete_repository",
                "Delete a repository and all of its issues, pull requests and history.",
                json!({}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "run_workflow",
                "Run an Actions workflow by workflow ID or filename.",
                json!({"workflow_id": "string", "ref": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "cancel_workflow_run",
                "Cancel a workflow run.",
                json!({"run_id": "number"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "rerun_failed_jobs",
                "Re-run only the failed jobs of a workflow run.",
                json!({}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "create_pull_request_review_comment",
                "Add a review comment to a pull request.",
                json!({"body": "string"}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "add_repository_collaborator",
                "Add a user as a collaborator on a repository with the given permission.",
                json!({"username": "string", "permission": "string"}),
            ),
            "admin",
            "critical",
        ),
        (
            tool(
                "create_or_update_file",
                "Create or update a single file in a repository.",
                json!({"path": "string", "content": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "merge_pull_request",
                "Merge a pull request.",
                json!({"merge_method": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_secret_scanning_alerts",
                "List secret scanning alerts for a repository.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "update_branch_protection",
                "Update branch protection rules for a branch.",
                json!({}),
            ),
            "admin",
            "critical",
        ),
        (
            tool(
                "get_pipeline_job_log",
                "Fetch the log output of a CI job.",
                json!({}),
            ),
            "read",
            "medium",
        ),
    ]);
}

#[test]
fn payments() {
    check(&[
        (
            tool(
                "create_customer",
                "This tool will create a customer in Stripe.",
                json!({"name": "string", "email": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_customers",
                "This tool will fetch a list of Customers from Stripe.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "create_product",
                "This tool will create a product in Stripe.",
                json!({}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_prices",
                "This tool will fetch a list of Prices from Stripe.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "retrieve_balance",
                "Retrieve the balance of the account.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "cancel_subscription",
                "Cancel a customer's subscription.",
                json!({"subscription": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool(
                "send_invoice",
                "Send an invoice to the customer for payment.",
                json!({"invoice_id": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool(
                "capture_payment",
                "Capture an authorized payment.",
                json!({"payment_id": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool(
                "create_payout",
                "Create a payout to the connected bank account.",
                json!({"amount": "integer", "currency": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool(
                "transfer_funds",
                "Transfer funds between two accounts.",
                json!({"amount": "number", "to": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool("void_invoice", "Void a finalized invoice.", json!({})),
            "financial",
            "critical",
        ),
        (
            tool("list_payment_intents", "List payment intents.", json!({})),
            "read",
            "medium",
        ),
        (
            tool(
                "search_documentation",
                "Search the payments documentation for an answer.",
                json!({"question": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "pay",
                "Settle an amount with a merchant.",
                json!({"amount": "number", "currency": "string", "merchant": "string"}),
            ),
            "financial",
            "critical",
        ),
    ]);
}

#[test]
fn cloud() {
    check(&[
        (
            tool(
                "list_buckets",
                "List the S3 buckets of the account.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "get_object",
                "Read an object's contents from a bucket.",
                json!({"bucket": "string", "key": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool("put_object", "Upload an object to a bucket.", json!({})),
            "send",
            "high",
        ),
        (
            tool("delete_bucket", "Delete an empty bucket.", json!({})),
            "destructive",
            "high",
        ),
        (
            tool(
                "terminate_instances",
                "Terminate the given EC2 instances.",
                json!({"instance_ids": "array"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "describe_instances",
                "Describe EC2 instances and their state.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "invoke_function",
                "Invoke a Lambda function with a JSON payload.",
                json!({"function_name": "string", "payload": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "call_aws",
                "Execute AWS CLI commands with validation and proper error handling.",
                json!({"cli_command": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "attach_user_policy",
                "Attach a managed policy to an IAM user.",
                json!({"user_name": "string", "policy_arn": "string"}),
            ),
            "admin",
            "critical",
        ),
        (
            tool("delete_user", "Delete an IAM user.", json!({})),
            "admin",
            "critical",
        ),
        (
            tool("list_roles", "List IAM roles.", json!({})),
            "read",
            "medium",
        ),
        (
            tool(
                "get_log_events",
                "Get log events from a CloudWatch log stream.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "workers_deploy",
                "Deploy a new version of a Worker script.",
                json!({"script": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "kv_namespace_create",
                "Create a new KV namespace.",
                json!({"title": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool("d1_database_delete", "Delete a D1 database.", json!({})),
            "destructive",
            "critical",
        ),
        (
            tool("rotate_secret", "Rotate a secret's value.", json!({})),
            "admin",
            "critical",
        ),
        (
            tool(
                "create_service_account_key",
                "Create a key for a service account.",
                json!({}),
            ),
            "admin",
            "critical",
        ),
        (
            tool(
                "get_cost_and_usage",
                "Get cost and usage for the account over a period.",
                json!({}),
            ),
            "read",
            "medium",
        ),
    ]);
}

#[test]
fn kubernetes_and_containers() {
    check(&[
        (
            tool(
                "pods_list",
                "List all the Kubernetes pods in the current cluster from all namespaces",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "pods_delete",
                "Delete a Kubernetes Pod in the current or provided namespace with the provided name",
                json!({}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "namespaces_delete",
                "Delete a namespace and every resource in it.",
                json!({}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "resources_create_or_update",
                "Create or update a Kubernetes resource in the current cluster by providing a YAML or JSON representation of the resource",
                json!({"resource": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "helm_install",
                "Install a Helm chart in the current or provided namespace",
                json!({"chart": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "helm_uninstall",
                "Uninstall a Helm release in the current or provided namespace",
                json!({}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "scale_deployment",
                "Scale a deployment to the given number of replicas.",
                json!({"replicas": "integer"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "run_container",
                "Run a new container from an image with optional command and environment.",
                json!({"image": "string", "command": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "fetch_container_logs",
                "Fetch the logs of a container.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "build_image",
                "Build a Docker image from a Dockerfile.",
                json!({"path": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool("list_containers", "List all Docker containers.", json!({})),
            "read",
            "low",
        ),
        (
            tool(
                "kubectl_apply",
                "Apply a Kubernetes YAML manifest to the cluster.",
                json!({"manifest": "string"}),
            ),
            "execute",
            "high",
        ),
    ]);
}

#[test]
fn databases() {
    check(&[
        (
            tool(
                "query",
                "Run a read-only SQL query",
                json!({"sql": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "execute_sql",
                "Executes raw SQL in the Postgres database.",
                json!({"query": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "read_query",
                "Execute a SELECT query on the database",
                json!({"query": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "create_table",
                "Create a new table in the database",
                json!({"query": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "describe_table",
                "Get the schema information for a specific table",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "list_databases",
                "List all databases for a connection.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "insert-many",
                "Insert an array of documents into a collection.",
                json!({"documents": "array"}),
            ),
            "write",
            "high",
        ),
        (
            tool(
                "delete-many",
                "Removes all documents that match the filter from a collection.",
                json!({"filter": "object"}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "drop-collection",
                "Removes a collection or view from the database.",
                json!({}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "aggregate",
                "Run an aggregation against a collection.",
                json!({"pipeline": "array"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "apply_migration",
                "Applies a SQL migration to the database.",
                json!({"query": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool("get", "Get the value of a key.", json!({"key": "string"})),
            "read",
            "low",
        ),
        (
            tool(
                "flushdb",
                "Remove all keys from the current database.",
                json!({}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "create-db-user",
                "Create a database user with the given roles.",
                json!({"username": "string", "roles": "array"}),
            ),
            "admin",
            "critical",
        ),
    ]);
}

#[test]
fn filesystem_and_shell() {
    check(&[
        (
            tool(
                "read_multiple_files",
                "Read the contents of multiple files simultaneously.",
                json!({"paths": "array"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "write_file",
                "Create a new file or completely overwrite an existing file with new content.",
                json!({"path": "string", "content": "string"}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "create_directory",
                "Create a new directory or ensure a directory exists.",
                json!({"path": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_directory",
                "Get a detailed listing of all files and directories in a specified path.",
                json!({"path": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "search_files",
                "Recursively search for files and directories matching a pattern.",
                json!({"pattern": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "get_file_info",
                "Retrieve detailed metadata about a file or directory.",
                json!({"path": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "start_process",
                "Start a new terminal process with intelligent state detection.",
                json!({"command": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "interact_with_process",
                "Send input to a running process and get the response.",
                json!({"pid": "number", "input": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "run_command",
                "Run a shell command on the host.",
                json!({"command": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool("shell", "Runs a command in bash.", json!({"cmd": "string"})),
            "execute",
            "critical",
        ),
        (
            tool(
                "python_repl",
                "A Python shell. Use this to execute python commands.",
                json!({"code": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "delete_directory",
                "Recursively delete a directory and everything under it.",
                json!({"path": "string"}),
            ),
            "destructive",
            "critical",
        ),
    ]);
}

#[test]
fn browsers() {
    check(&[
        (
            tool(
                "browser_type",
                "Type text into editable element",
                json!({"element": "string", "text": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "browser_press_key",
                "Press a key on the keyboard",
                json!({"key": "string"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "browser_evaluate",
                "Evaluate JavaScript expression on page or element",
                json!({"function": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "browser_take_screenshot",
                "Take a screenshot of the current page.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "browser_console_messages",
                "Returns all console messages",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "fetch",
                "Fetches a URL from the internet and optionally extracts its contents as markdown.",
                json!({"url": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "browser_fill_form",
                "Fill multiple form fields",
                json!({"fields": "array"}),
            ),
            "execute",
            "high",
        ),
        (
            tool(
                "browser_run_code",
                "Run a Playwright code snippet against the page.",
                json!({"code": "string"}),
            ),
            "execute",
            "critical",
        ),
    ]);
}

#[test]
fn crm_calendar_mail() {
    check(&[
        (
            tool(
                "create_contact",
                "Create a new contact record in the CRM.",
                json!({"email": "string", "firstname": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "search_contacts",
                "Search contacts by name, email or company.",
                json!({"query": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool("get_company", "Get a company by its ID.", json!({})),
            "read",
            "low",
        ),
        (
            tool(
                "delete_contact",
                "Delete a contact from the CRM.",
                json!({}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "batch_update_deals",
                "Update many deals at once.",
                json!({"deals": "array"}),
            ),
            "write",
            "high",
        ),
        (
            tool(
                "create_note",
                "Create a note attached to a deal.",
                json!({"body": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_events",
                "List events from a calendar in a time range.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "create_event",
                "Create a calendar event.",
                json!({"summary": "string", "start": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool("delete_event", "Delete a calendar event.", json!({})),
            "destructive",
            "high",
        ),
        (
            tool(
                "send_email",
                "Sends a new email.",
                json!({"to": "array", "subject": "string", "body": "string"}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "draft_email",
                "Draft a new email without sending it.",
                json!({"to": "array", "subject": "string", "body": "string"}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "read_email",
                "Retrieves the content of a specific email.",
                json!({"messageId": "string"}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "batch_delete_emails",
                "Permanently deletes multiple emails in batches.",
                json!({"messageIds": "array"}),
            ),
            "destructive",
            "critical",
        ),
        (
            tool(
                "modify_email",
                "Modifies email labels (move to different folders).",
                json!({}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "forward_email",
                "Forward an email to another address.",
                json!({"to": "string"}),
            ),
            "send",
            "high",
        ),
        (
            tool(
                "create_ticket_comment",
                "Add a public reply to a support ticket.",
                json!({"body": "string"}),
            ),
            "send",
            "high",
        ),
    ]);
}

#[test]
fn schema_decides_when_words_do_not() {
    check(&[
        (
            tool("terminal", "", json!({"command": "string"})),
            "execute",
            "critical",
        ),
        (
            tool("x1", "", json!({"to": "string", "message": "string"})),
            "send",
            "high",
        ),
        (
            tool(
                "x2",
                "",
                json!({"amount": "number", "currency": "string", "destination": "string"}),
            ),
            "financial",
            "critical",
        ),
        (
            tool("x3", "", json!({"user": "string", "role": "string"})),
            "admin",
            "critical",
        ),
        (
            tool("x4", "", json!({"country_code": "string"})),
            "write",
            "medium",
        ),
        (
            tool(
                "lookup_country",
                "Get a country by its ISO code.",
                json!({"code": "string"}),
            ),
            "read",
            "low",
        ),
    ]);
}

#[test]
fn multiplexing_tools_and_long_descriptions() {
    let manage = json!({"name": "manage_labels", "description": "Manage labels: create, update or remove them.",
        "inputSchema": {"type": "object", "properties": {
            "operation": {"type": "string", "enum": ["create", "update", "delete"]},
            "sort": {"type": "string", "enum": ["created", "updated"]}}}});
    check(&[
        (manage, "destructive", "high"),
        (
            tool(
                "thing_tool",
                "Manage things: create, update or delete them.",
                json!({}),
            ),
            "destructive",
            "high",
        ),
        (
            tool("list_items", "List items.", json!({"sort": "string"})),
            "read",
            "low",
        ),
        (
            tool(
                "search_docs",
                "Use this tool when the user asks how to configure the product. Returns matching documentation pages.\n\n<hints>\n- Use delete_page to remove a page\n</hints>",
                json!({"query": "string"}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "get_issue",
                "Get details of a specific issue in a repository. Use this before calling close_issue or delete_issue.",
                json!({}),
            ),
            "read",
            "low",
        ),
    ]);
}

#[test]
fn words_that_look_risky_but_are_not() {
    check(&[
        (
            tool(
                "manage_notification_subscription",
                "Manage a notification subscription: ignore, watch, or delete a notification thread subscription.",
                json!({}),
            ),
            "destructive",
            "high",
        ),
        (
            tool(
                "create_pending_review",
                "Create a pending review for a pull request, to add comments to before submitting it.",
                json!({}),
            ),
            "write",
            "medium",
        ),
        (
            tool(
                "list_projects",
                "Lists all projects for the user.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "find_organizations",
                "Find organizations that the user has access to.",
                json!({}),
            ),
            "read",
            "low",
        ),
        (
            tool(
                "list_users",
                "Lists all users of the organization.",
                json!({}),
            ),
            "read",
            "medium",
        ),
        (
            tool(
                "add",
                "Adds two numbers.",
                json!({"a": "number", "b": "number"}),
            ),
            "read",
            "low",
        ),
    ]);
}

#[test]
fn deployments_terminals_credentials_and_posts() {
    check(&[
        (
            tool(
                "create_deployment",
                "Create a new deployment of the project from a git ref.",
                json!({}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "send_keys",
                "Send keys to a terminal pane.",
                json!({"keys": "string"}),
            ),
            "execute",
            "critical",
        ),
        (
            tool(
                "generate_token",
                "Generate a new API token for the account.",
                json!({}),
            ),
            "admin",
            "critical",
        ),
        (tool("issue_token", "", json!({})), "admin", "critical"),
        (
            tool("post_to_channel", "Posts to a channel.", json!({})),
            "send",
            "high",
        ),
        (
            tool(
                "schedule_email",
                "Schedule an email to be sent later.",
                json!({}),
            ),
            "send",
            "high",
        ),
        (
            tool("create_email_draft", "Create an email draft.", json!({})),
            "write",
            "medium",
        ),
        (
            tool("approve_expense", "Approve an expense report.", json!({})),
            "financial",
            "critical",
        ),
    ]);
}

#[test]
fn annotations_raise_but_never_lower() {
    // A delete that claims to be read-only is still a delete.
    let t = json!({"name": "delete_records", "description": "Delete records.",
                   "annotations": {"readOnlyHint": true, "destructiveHint": false}});
    let a = classify(&t);
    assert_eq!(
        (a.category.as_str(), a.risk.as_str()),
        ("destructive", "high")
    );
    assert!(
        a.evidence
            .iter()
            .any(|e| e.starts_with("annotation readOnlyHint ignored")),
        "{:?}",
        a.evidence
    );

    // A read the server marks destructive is raised to medium.
    let t = json!({"name": "list_widgets", "description": "List widgets.",
                   "annotations": {"destructiveHint": true}});
    let a = classify(&t);
    assert_eq!((a.category.as_str(), a.risk.as_str()), ("read", "medium"));
    assert!(
        a.evidence
            .contains(&"annotation destructiveHint".to_owned()),
        "{:?}",
        a.evidence
    );

    // Nothing recognisable: the server's read-only claim names the category, not a low risk.
    let t = json!({"name": "zorp", "annotations": {"readOnlyHint": true}});
    let a = classify(&t);
    assert_eq!((a.category.as_str(), a.risk.as_str()), ("read", "medium"));
}

#[test]
fn evidence_and_rationale_say_why() {
    let a = classify(&json!({"name": "pods_exec", "description": "Execute a command in a pod."}));
    assert_eq!(a.evidence[0], "name word \"exec\"");
    assert!(
        a.rationale.starts_with("Execute tool, critical risk: it "),
        "{}",
        a.rationale
    );
    let a = classify(&tool(
        "create_refund",
        "Refund a charge.",
        json!({"amount": "integer"}),
    ));
    assert!(
        a.evidence.contains(&"name word \"refund\"".to_owned()),
        "{:?}",
        a.evidence
    );
    assert!(
        a.rationale.contains("Require a person's approval"),
        "{}",
        a.rationale
    );
    let c = classify(&tool(
        "add_issue_comment",
        "Add a comment to one of the issues.",
        json!({}),
    ));
    assert!(
        c.rationale.starts_with(
            "Send tool, high risk: it posts a comment that others read and are notified of, on an issue."
        ),
        "{}",
        c.rationale
    );
    // Deterministic.
    assert_eq!(
        a,
        classify(&tool(
            "create_refund",
            "Refund a charge.",
            json!({"amount": "integer"})
        ))
    );
}

#[test]
fn never_panics_on_odd_text() {
    // A small deterministic generator over awkward characters: multi-byte letters, marks,
    // punctuation the parsers look for, digits, invisible and control characters.
    const ALPHABET: &[&str] = &[
        "a",
        "E",
        "z",
        "_",
        "-",
        ".",
        "/",
        " ",
        "\n",
        "\n\n",
        ":",
        "**",
        "|",
        "`",
        "```",
        "<examples>",
        "</hints>",
        "(",
        ")",
        "'s",
        "é",
        "名",
        "ß",
        "İ",
        "\u{202e}",
        "\u{1b}",
        "0",
        "9",
        "s",
        "es",
        "ing",
        "ed",
        "delete",
        "run",
        "Args:",
        "- x (str):",
        "e.g.",
        "URLs",
        "ID",
        "all",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for _ in 0..2000 {
        let mut pick = |n: usize| {
            (0..n)
                .map(|_| ALPHABET[next() % ALPHABET.len()])
                .collect::<String>()
        };
        let name = pick(4);
        let description = pick(24);
        let prop = pick(2);
        let t = json!({"name": name, "description": description,
            "inputSchema": {"type": "object", "properties": {prop: {"type": "string", "enum": [pick(2)]}}},
            "annotations": {"readOnlyHint": true}});
        let a = classify(&t);
        assert!(!a.rationale.is_empty());
    }
}
