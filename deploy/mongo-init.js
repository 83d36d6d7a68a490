// Runs once, when the mongo service starts on an empty data volume (docker-entrypoint-initdb.d): creates the
// user Airflow's jira_assets_backup connection logs in with, allowed to read and write the backup database
// only. The root user (MONGO_INITDB_ROOT_*) stays for administration. Changing MONGO_APP_PASSWORD later does
// not change the stored user: run db.getSiblingDB("admin").changeUserPassword(...) as root.
const username = process.env.MONGO_APP_USERNAME;
const password = process.env.MONGO_APP_PASSWORD;
const database = process.env.MONGO_APP_DATABASE;
if (!username || !password || !database) {
  throw new Error("MONGO_APP_USERNAME, MONGO_APP_PASSWORD and MONGO_APP_DATABASE must be set");
}
db.getSiblingDB("admin").createUser({
  user: username,
  pwd: password,
  roles: [{ role: "readWrite", db: database }],
});
print(`created user ${username} (readWrite on ${database}) in admin`);
