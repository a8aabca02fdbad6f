// What went wrong, in the screen's language. The API's problem documents say it in English (`detail`, for
// logs and programs) and name it by a stable `code`; the Chinese screen words the codes people meet itself,
// with the fields the problem carries (the status an event is in, the actions allowed, when a lock ends).
// A code without Chinese words here falls back to the English detail.

import { ApiError } from "./api";
import { fmtTime } from "./dom";
import { code, currentLang, t } from "./i18n";

interface Problem {
  code?: string;
  departments?: string[];
  current_deadline?: string;
  target_status?: string;
  detail?: string;
  action?: string;
  current_status?: string;
  allowed_actions?: string[];
  until?: string;
  errors?: FieldError[];
}

interface FieldError {
  field: string;
  message: string;
  type?: string;
  limits?: Record<string, string | number>;
}

const ZH: Record<string, (p: Problem) => string> = {
  unauthorized: () => "请先登录",
  login_failed: () => "用户名或密码错误",
  login_locked: (p) => `密码连续错误次数过多，账号已锁定${p.until ? `至 ${fmtTime(p.until)}` : ""}；也可请管理员解锁或重置密码`,
  address_throttled: (p) => `来自本机地址的登录失败次数过多，${p.until ? `${fmtTime(p.until)} 前` : "暂时"}不能登录`,
  account_disabled: () => "账号已停用，请联系管理员",
  session_ended: () => "登录已失效，请重新登录",
  token_expired: () => "登录已过期，请重新登录",
  forbidden: () => "当前角色无权执行此操作",
  not_found: () => "未找到该记录，或当前角色无权查看",
  wrong_password: () => "当前密码不正确",
  same_password: () => "新密码不能与当前密码相同",
  weak_password: () => "密码强度不足：至少 8 位，包含大写字母、小写字母、数字、其他字符中的至少三种，且不能包含用户名",
  username_taken: () => "用户名已被占用（不区分大小写）",
  own_account: () => "不能停用自己的账号或修改自己的角色，请由其他管理员操作",
  last_administrator: () => "这是最后一位启用的管理员，请先设置另一位管理员",
  area_required: () => "该角色需要指定负责区域",
  department_required: () => "部门处置人员需要指定所属部门",
  anonymous: () => "该事件为匿名反映，没有可回访的联系人",
  purpose_required: () => "该表计服务于登记的关爱对象，请说明用途后查看读数",
  invalid_transition: (p) => {
    const allowed = (p.allowed_actions ?? []).map((a) => code("action", a)).join("、") || "无";
    return `事件当前为“${code("status", p.current_status)}”，不能“${code("action", p.action)}”；现在可以：${allowed}`;
  },
  department_needed: () => "请选择主办部门（系统无法确定）",
  unknown_department: () => "所选部门不存在或已停用",
  lead_is_co: () => "主办部门不能同时作为协办部门",
  no_open_part: () => "本部门在该事件中没有待办的任务",
  co_handlers_open: (p) => `协办部门尚未办结：${(p.departments ?? []).join("、")}`,
  extension_pending: () => "已有延期申请等待审批",
  deadline_not_later: (p) => `新的办结时限须晚于当前时限${p.current_deadline ? `（${fmtTime(p.current_deadline)}）` : ""}`,
  deadline_in_past: () => "新的办结时限须晚于现在",
  no_extension_request: () => "没有待审批的延期申请",
  grade_not_allowed: () => "当前角色不能为事件定级，请不带分级上报，由指挥中心定级",
  grade_unchanged: () => "事件已是该分级",
  merge_into_itself: () => "不能将事件合并到其自身",
  merge_target_closed: (p) => `目标事件当前为“${code("status", p.target_status)}”，只能合并到在办事件`,
  conflicting_data: () => "与已有数据冲突（重复，或引用的记录不存在）",
  invalid_value: () => "提交的值超出范围或含有无效字符",
  invalid_json: () => "提交的内容不是有效的 JSON",
  payload_too_large: () => "提交的内容过大",
  too_many_requests: () => "请求过于频繁，请稍后再试",
  busy: () => "系统繁忙，请稍后重试",
  internal_error: () => "系统出错，错误已记录",
  invalid_request: (p) => (p.errors ?? []).map(fieldError).join("；") || "提交的内容不正确",
};

// pydantic's error types, as a person filling a form reads them.
const FIELD_ZH: Record<string, (limits: Record<string, string | number>) => string> = {
  missing: () => "必填",
  string_too_short: (l) => `至少 ${l.min_length} 个字符`,
  string_too_long: (l) => `最多 ${l.max_length} 个字符`,
  too_short: (l) => `至少 ${l.min_length} 项`,
  too_long: (l) => `最多 ${l.max_length} 项`,
  greater_than_equal: (l) => `不能小于 ${l.ge}`,
  greater_than: (l) => `必须大于 ${l.gt}`,
  less_than_equal: (l) => `不能大于 ${l.le}`,
  less_than: (l) => `必须小于 ${l.lt}`,
  string_pattern_mismatch: () => "格式不正确",
  enum: () => "取值无效",
  literal_error: () => "取值无效",
  extra_forbidden: () => "不接受该字段",
  string_type: () => "应为文字",
  int_parsing: () => "应为整数",
  int_type: () => "应为整数",
  float_parsing: () => "应为数字",
  bool_parsing: () => "应为“是”或“否”",
  datetime_parsing: () => "时间格式不正确",
  timezone_aware: () => "时间须带时区",
};

function fieldError(e: FieldError): string {
  const name = e.field.split(".").pop() ?? e.field;
  const label = name ? t(name) : "";
  const words = e.type ? FIELD_ZH[e.type]?.(e.limits ?? {}) : undefined;
  return `${label ? `${label}：` : ""}${words ?? e.message}`;
}

/** The words for an error caught from the API (or anything else thrown), in the screen's language. */
export function errorText(err: unknown): string {
  if (!(err instanceof ApiError)) return String(err);
  const problem = (err.body ?? {}) as Problem;
  if (currentLang() === "zh" && problem.code) {
    const words = ZH[problem.code];
    if (words) return words(problem);
  }
  return err.detail;
}

/** What a panel that could not load says: that the role may not see it, or what went wrong. */
export function loadErrorText(err: unknown): string {
  return err instanceof ApiError && err.status === 403 ? t("no_permission") : errorText(err);
}
