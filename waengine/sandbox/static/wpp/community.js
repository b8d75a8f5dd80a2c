/* WPP.community: communities (wa-js 4.6.0 dist/community/functions/*.d.ts). A community is a
 * parent group (groupType COMMUNITY) with an announcement group (LINKED_ANNOUNCEMENT_GROUP,
 * admins only) and linked groups (LINKED_SUBGROUP); their metadata is in the chats' store. */

import { WPPError } from './errors.js';
import { group, groupChatFromView } from './group.js';
import { assertWid, createWid } from './ids.js';
import { store } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

async function call(path, body) {
  try {
    const answer = await http('POST', path, { auth: true, body });
    (answer.groups || []).forEach(groupChatFromView);
    render();
    return answer;
  } catch (err) {
    throw asWPPError(err);
  }
}

const list = (ids) => (Array.isArray(ids) ? ids : [ids]).map((id) => assertWid(id)._serialized);

/** GroupMetadataStore.get: the group's metadata, from its chat. */
function metadata(id) {
  const chatModel = store.chats.get(String(id));
  return chatModel ? chatModel.groupMetadata : undefined;
}

function getSubgroups(communityId) {
  const meta = metadata(communityId);
  if (!meta) throw new WPPError('group_not_exist', `GroupId ${String(communityId)} not exists`);
  if (meta.joinedSubgroups && meta.joinedSubgroups.length > 0) return meta.joinedSubgroups;
  const parent = metadata(meta.parentGroup);
  return parent ? parent.joinedSubgroups : [];
}

export const community = {
  create: asyncApi('community.create', async (name, desc, subGroupsIds) => {
    const answer = await call('/communities', { name, description: desc, subgroups: list(subGroupsIds) });
    return { wid: createWid(answer.id), subGroups: answer.subGroups };
  }),
  addSubgroups: asyncApi('community.addSubgroups', async (parentGroupId, subgroupIds) => {
    const answer = await call(`/communities/${assertWid(parentGroupId)._serialized}/subgroups`,
      { subgroups: list(subgroupIds), link: true });
    return { failedGroups: answer.failedGroups, linkedGroupJids: answer.linkedGroupJids };
  }),
  removeSubgroups: asyncApi('community.removeSubgroups', async (parentGroupId, subgroupIds) => {
    const answer = await call(`/communities/${assertWid(parentGroupId)._serialized}/subgroups`,
      { subgroups: list(subgroupIds), link: false });
    return { failedGroups: answer.failedGroups, linkedGroupJids: answer.linkedGroupJids };
  }),
  getSubgroups: (communityId) => getSubgroups(communityId),
  getAnnouncementGroup: (communityId) => {
    for (const id of getSubgroups(communityId)) {
      const meta = metadata(id);
      if (meta && meta.groupType === 'LINKED_ANNOUNCEMENT_GROUP') return meta.id;
    }
    return undefined;
  },
  getParticipants: asyncApi('community.getParticipants', async (communityId) => {
    const meta = metadata(assertWid(communityId)._serialized);
    if (!meta) throw new WPPError('group_not_exist', `GroupId ${String(communityId)} not exists`);
    return meta.participants.getModelsArray();
  }),
  promoteParticipants: asyncApi('community.promoteParticipants', (communityId, participantsIds) =>
    group.promoteParticipants(communityId, participantsIds)),
  demoteParticipants: asyncApi('community.demoteParticipants', (communityId, participantsIds) =>
    group.demoteParticipants(communityId, participantsIds)),
  deactivate: asyncApi('community.deactivate', async (communityId) => {
    const id = assertWid(communityId)._serialized;
    return call(`/communities/${id}/deactivate`, {});
  }),
};
