/**
 * n8n releases the suites install besides the pinned one (scripts/real-setup.sh reads this file):
 * the upgrade scenario (test/faults/upgrade.test.ts) starts on UPGRADE_FROM and upgrades to the
 * release the stacks pin.
 */
export const UPGRADE_FROM = "2.39.10";
