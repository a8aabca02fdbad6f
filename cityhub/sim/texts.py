"""What the demo city says: report templates, places, people and what departments write back.

Everything here is data, read by one composer (``compose``) with the stream's seeded generator. Road names
and landmarks are real places of each Qingdao district; crossings, house numbers, estates, shops and people
are composed, so no report describes a real person or business. Placeholders a template may use:
``{place}`` (a crossing, a road and number or a landmark; the estate or shop for those kinds), ``{road}``,
``{estate}``, ``{building}``, ``{unit}``, ``{shop}``, ``{site}``, ``{spot}`` and ``{when}``. Complaints
about a purchase or an employer speak of the caller as 其, as 12345 work orders do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

# ---------------------------------------------------------------- the kinds of reports


@dataclass(frozen=True)
class Report:
    """One kind of problem people report, under a leaf of the demo taxonomy (``seed.TAXONOMY``).

    ``keyword`` is what a dispatcher recognises in the title when the reporter gave no category: it is
    part of ``title`` and of no other template's title. ``where`` says which kind of place it happens
    at: street (roads, crossings, landmarks), road (a road as a whole), estate (a residential
    compound), shop or site (a construction site). ``sensor`` and ``video`` are the texts of IoT and
    video-AI reports, when such devices can see the problem at all.
    """

    category: str
    keyword: str
    title: str
    details: tuple[str, ...]
    resolutions: tuple[str, ...]
    where: str = "street"
    shops: tuple[str, ...] = ()
    sensor: str | None = None
    video: str | None = None
    weight: float = 1.0
    urgent: float = 0.08
    critical: float = 0.0
    grid: bool = True  # whether a grid worker on patrol would see and report it
    hazard: bool = False  # may be an emergency (突发事件): the centre grades some of its urgent reports


_MUNICIPAL = "城乡建设/市政设施/"
_BUILDING = "城乡建设/建筑管理/"
_NOISE = "环境保护/噪声污染/"
_AIR = "环境保护/大气污染/"
_WATER_POLLUTION = "环境保护/水污染/"
_TRAFFIC = "交通运输/道路交通/"
_TRANSIT = "交通运输/公共交通/"
_CITYSCAPE = "城市管理/市容环境/"
_GREEN = "城市管理/园林绿化/"
_SAFETY = "公共安全/安全隐患/"
_SUPPLY = "供水供热/供水/"
_HEATING = "供水供热/供热/"
_PROPERTY = "物业管理/物业服务/"

REPORTS: tuple[Report, ...] = (
    Report(
        _MUNICIPAL + "道路破损",
        "路面破损",
        "{place}路面破损",
        (
            "{place}{spot}路面出现坑洼，直径约半米，车辆经过颠簸，雨天积水后更看不清",
            "{place}{spot}人行道地砖松动破损多处，老人和孩子走路容易绊倒",
        ),
        (
            "已安排道路养护人员对破损路面进行修补，现已恢复平整通行。",
            "经现场核实，已更换松动破损的人行道地砖共计20余块，路面恢复平整。",
        ),
        weight=3.0,
    ),
    Report(
        _MUNICIPAL + "井盖缺失或破损",
        "井盖缺失",
        "{place}井盖缺失",
        (
            "{place}{spot}一处雨水井盖缺失，夜间行人和非机动车经过容易跌落",
            "{place}{spot}一处污水井盖破损下陷，车辆经过有响声，存在安全隐患",
        ),
        (
            "养护人员已到场设置警示围挡，并更换新井盖，隐患已消除。",
            "经核实为雨水井盖被重型车辆压坏，已更换防坠井盖并加装防坠网。",
        ),
        sensor="{place}{spot}井盖监测终端报警：井盖倾角异常，疑似移位或缺失",
        weight=2.0,
        urgent=0.25,
    ),
    Report(
        _MUNICIPAL + "路灯不亮",
        "路灯不亮",
        "{place}路灯不亮",
        (
            "{place}一段路灯{when}不亮，约有五六盏，晚上道路很黑，行人出行不便",
            "{place}{spot}路灯时亮时灭，晚上经过很不安全",
        ),
        (
            "经检修为供电线路故障，已更换电缆接头，路灯恢复正常照明。",
            "已更换损坏灯具5盏，现已恢复照明。",
        ),
        weight=2.0,
    ),
    Report(
        _MUNICIPAL + "排水管道堵塞",
        "排水管道堵塞",
        "{place}排水管道堵塞",
        (
            "{place}{spot}雨水篦子被杂物堵塞，一下雨路面就大面积积水",
            "{place}污水管道堵塞，污水从检查井冒出，气味难闻",
        ),
        (
            "已安排疏通车对管道进行疏通清淤，排水恢复通畅。",
            "已清理雨水篦子及管道内淤积杂物，积水已排除。",
        ),
        weight=1.5,
    ),
    Report(
        _MUNICIPAL + "燃气泄漏",
        "燃气泄漏",
        "{estate}{building}燃气泄漏",
        (
            "{estate}{building}{unit}楼道内闻到明显的燃气味，担心发生危险",
            "{estate}{building}楼下燃气管道有漏气声，周边居民很担心",
        ),
        (
            "能源集团抢修人员已到场关阀检修，更换泄漏管件，经检测无泄漏，已恢复供气。",
            "经检测为户外调压箱接口渗漏，已紧急处置，复测正常，已恢复供气。",
        ),
        where="estate",
        sensor="{place}燃气浓度监测点报警，可燃气体浓度超过报警阈值",
        weight=0.6,
        urgent=0.4,
        critical=0.6,
        hazard=True,
    ),
    Report(
        _MUNICIPAL + "道路积水",
        "道路积水",
        "{place}道路积水",
        ("{place}{spot}下雨后积水严重，水深没过脚踝，车辆和行人都无法通行",),
        ("已组织排水抢险队伍到场抽排积水，并清理雨水口，道路恢复通行。",),
        sensor="{place}积水监测点报警，积水深度超过15厘米",
        urgent=0.3,
        hazard=True,
    ),
    Report(
        _MUNICIPAL + "桥梁护栏损坏",
        "护栏损坏",
        "{place}护栏损坏",
        ("{place}一段道路护栏被车辆撞坏，有倒伏的危险",),
        ("已拆除损坏护栏，并安装新护栏。",),
        weight=0.5,
    ),
    Report(
        _BUILDING + "建筑施工安全",
        "施工安全隐患",
        "{road}{site}施工安全隐患",
        ("{road}{site}脚手架未设置防护网，有建筑材料从高处掉落，过往行人很危险",),
        ("住建部门已责令施工单位停工整改，完善安全防护措施，经复查已整改到位。",),
        where="site",
        urgent=0.2,
    ),
    Report(
        _BUILDING + "工程质量问题",
        "房屋质量问题",
        "{estate}新交付房屋质量问题",
        ("{estate}新交付的房屋出现墙体开裂、窗户渗水等问题，开发商迟迟不予维修",),
        ("已约谈开发建设单位，督促其制定维修方案，目前已完成维修。",),
        where="estate",
        weight=0.5,
    ),
    Report(
        "城乡建设/国土规划/违法占地",
        "违法占地",
        "{road}附近违法占地",
        ("{road}附近有人占用耕地建设厂房，已经开始打地基",),
        ("经核查，已依法下达责令停止违法行为通知书，违法建设已拆除。",),
        where="road",
        weight=0.4,
    ),
    Report(
        _NOISE + "施工噪声",
        "施工噪声",
        "{road}{site}夜间施工噪声",
        (
            "{road}{site}{when}施工，机械轰鸣声很大，严重影响周边居民休息",
            "{road}{site}晚上十点以后仍在施工，噪声扰民",
        ),
        (
            "经现场检查，该工地未办理夜间施工许可，已责令停止夜间施工并立案调查。",
            "已约谈施工单位，要求严格控制施工时间，夜间已停止高噪声作业。",
        ),
        where="site",
        weight=2.0,
    ),
    Report(
        _NOISE + "社会生活噪声",
        "广场舞",
        "{estate}附近广场舞音响声音过大",
        ("{estate}附近广场{when}有人跳广场舞，音响声音很大，影响居民休息和孩子学习",),
        ("已联系活动组织者，劝导其调低音量并调整活动时间，现已改善。",),
        where="estate",
        weight=1.5,
    ),
    Report(
        _AIR + "餐饮油烟",
        "油烟",
        "{shop}油烟扰民",
        ("{road}{n}号{shop}未安装油烟净化设施，油烟直排，{when}熏得居民不敢开窗",),
        ("执法人员已现场检查，责令该商户安装油烟净化设施，目前已安装完毕并正常使用。",),
        where="shop",
        shops=("烧烤店", "饭店", "快餐店"),
        weight=1.5,
    ),
    Report(
        _AIR + "工地扬尘",
        "扬尘",
        "{road}{site}扬尘污染",
        ("{road}{site}土方未覆盖，渣土车进出未冲洗，道路尘土飞扬",),
        ("已责令施工单位落实覆盖、冲洗等防尘措施，并对周边道路进行了清扫。",),
        where="site",
    ),
    Report(
        _AIR + "露天焚烧",
        "焚烧",
        "{place}露天焚烧垃圾",
        ("{place}附近有人露天焚烧垃圾和枯枝，浓烟很大",),
        ("执法人员到场后已将明火扑灭，对焚烧人员进行了批评教育。",),
        weight=0.5,
    ),
    Report(
        _WATER_POLLUTION + "河道污染",
        "河道",
        "{place}附近河道水体发臭",
        ("{place}附近河道水体发黑发臭，河面有漂浮垃圾",),
        ("已组织人员打捞河面漂浮物，并排查上游排污口，已封堵一处雨污混接点。",),
        weight=0.5,
    ),
    Report(
        _WATER_POLLUTION + "污水直排",
        "污水直排",
        "{shop}污水直排",
        ("{road}{n}号{shop}将洗车污水直接排入雨水管道",),
        ("已责令该商户停止违法排污，限期完成污水接入市政污水管网。",),
        where="shop",
        shops=("洗车店", "汽修店"),
        weight=0.5,
    ),
    Report(
        _TRAFFIC + "交通信号灯故障",
        "信号灯",
        "{place}信号灯故障",
        (
            "{place}交通信号灯{when}一直黄闪，路口车辆通行混乱",
            "{place}{spot}行人过街信号灯不亮",
        ),
        ("交警部门已安排信号维护单位检修，更换故障信号机控制板，信号灯恢复正常。",),
        urgent=0.2,
    ),
    Report(
        _TRAFFIC + "违章停车",
        "违章停放",
        "{place}车辆违章停放",
        (
            "{place}{spot}长期有车辆占用人行道停放，行人只能走机动车道",
            "{place}{spot}车辆双排停放，早晚高峰通行困难",
        ),
        ("交警已到场对违停车辆依法处理，并加强该路段巡逻管控。",),
        video="{place}{spot}有机动车在禁停区域违规停放",
        weight=2.0,
    ),
    Report(
        _TRAFFIC + "交通拥堵",
        "拥堵",
        "{place}早晚高峰拥堵",
        ("{place}{when}车辆排队很长，建议优化信号灯配时",),
        ("交警部门已对该路口信号配时进行优化调整，并在高峰时段安排警力疏导。",),
    ),
    Report(
        _TRANSIT + "公交线路及站点",
        "公交",
        "{road}附近增设公交站点建议",
        ("{road}附近居民小区较多，但公交站点距离远，建议增设站点或调整线路",),
        ("交通运输部门已会同公交企业研究，将结合客流调查优化线路，已向市民做好解释。",),
        where="road",
        weight=0.7,
        grid=False,
    ),
    Report(
        _TRANSIT + "出租车服务",
        "出租车",
        "{place}出租车拒载",
        ("其在{place}乘坐出租车时，司机拒载，并要求不打表议价",),
        ("已根据市民提供的车牌号调查核实，对驾驶员依法作出处罚。",),
        weight=0.7,
        grid=False,
    ),
    Report(
        "市场监管/食品安全/无证经营食品",
        "无证经营",
        "{shop}无证经营",
        ("{road}{n}号{shop}未办理食品经营许可证，卫生条件很差",),
        ("市场监管部门已现场检查，责令其停止经营，并依法立案处理。",),
        where="shop",
        shops=("熟食摊点", "早餐店"),
    ),
    Report(
        "市场监管/食品安全/过期变质食品",
        "过期食品",
        "{shop}销售过期食品",
        ("其在{road}{n}号{shop}购买的牛奶已过保质期，要求商家赔偿",),
        ("已对该店进行检查，下架过期食品并依法立案调查，已协调商家为消费者退款赔偿。",),
        where="shop",
        shops=("超市", "便利店"),
        grid=False,
    ),
    Report(
        "市场监管/价格监管/价格欺诈",
        "价格欺诈",
        "{shop}涉嫌价格欺诈",
        ("其在{road}{n}号{shop}消费时，商家称重短斤少两，并按高价结算",),
        ("已对商户进行调查，责令其退还多收款项，并依法作出处罚。",),
        where="shop",
        shops=("海鲜排档", "水果店"),
        weight=0.7,
        grid=False,
    ),
    Report(
        "市场监管/价格监管/未明码标价",
        "明码标价",
        "{shop}未明码标价",
        ("{road}{n}号{shop}商品没有标价，结账时随意要价",),
        ("已责令商户规范明码标价，并对其进行了警告。",),
        where="shop",
        shops=("海鲜排档", "停车场"),
        weight=0.5,
    ),
    Report(
        "市场监管/消费维权/预付卡退费",
        "预付卡",
        "{shop}预付卡退费难",
        ("其在{road}{n}号{shop}办理的预付卡，商家突然停业，剩余余额无法退还",),
        ("已约谈经营者，协调其为消费者办理退费，双方已达成和解。",),
        where="shop",
        shops=("健身房", "美容店", "游泳馆"),
        grid=False,
    ),
    Report(
        _CITYSCAPE + "占道经营",
        "占道经营",
        "{place}占道经营",
        (
            "{place}{spot}{when}有流动摊贩占道经营，影响行人通行，垃圾遍地",
            "{place}{spot}商户长期在门前人行道摆放货物经营",
        ),
        (
            "执法队员已到场劝离占道摊贩，对店外经营商户进行教育，现场已清理。",
            "已对该路段加强巡查，占道摊点已全部清理。",
        ),
        video="{place}{spot}有流动摊贩占道经营",
        weight=3.0,
    ),
    Report(
        _CITYSCAPE + "违章搭建",
        "违章搭建",
        "{estate}违章搭建",
        (
            "{estate}{building}一楼住户在院内私自搭建彩钢房，侵占公共绿地",
            "{estate}{building}顶楼住户在楼顶违章搭建阳光房",
        ),
        ("经核查属违法建设，已下达限期拆除通知书，当事人已自行拆除。",),
        where="estate",
        weight=1.5,
    ),
    Report(
        _CITYSCAPE + "垃圾清运",
        "垃圾清运",
        "{place}垃圾清运不及时",
        ("{place}{spot}垃圾桶满溢，垃圾{when}无人清运，气味难闻",),
        ("环卫部门已安排车辆清运，并增加该点位清运频次。",),
        video="{place}{spot}垃圾桶满溢，周边有散落垃圾",
        weight=2.0,
    ),
    Report(
        _CITYSCAPE + "乱贴小广告",
        "小广告",
        "{estate}小广告乱贴",
        ("{estate}{building}楼道和单元门上贴满了小广告，清理后很快又被贴上",),
        ("已组织人员清理小广告，并对张贴号码进行停机处理。",),
        where="estate",
        weight=0.7,
    ),
    Report(
        _CITYSCAPE + "户外广告设施",
        "广告牌",
        "{place}广告牌松动",
        ("{place}{spot}一处户外广告牌松动，大风天有坠落危险",),
        ("已责令广告设置单位对该广告牌进行加固，不符合规范部分已拆除。",),
        urgent=0.3,
        weight=0.6,
    ),
    Report(
        _GREEN + "树木倒伏",
        "树木倒伏",
        "{place}树木倒伏",
        ("{place}{spot}一棵行道树被大风刮倒，压在人行道上，影响通行",),
        ("园林养护人员已到场清理倒伏树木，并将择期补植。",),
        urgent=0.3,
        hazard=True,
    ),
    Report(
        _GREEN + "树木修剪",
        "遮挡采光",
        "{estate}{building}前树木遮挡采光",
        ("{estate}{building}前的树木过高，遮挡低层住户采光，要求修剪",),
        ("园林部门已安排人员对树木进行修剪。",),
        where="estate",
        weight=0.7,
    ),
    Report(
        _GREEN + "绿地毁坏",
        "绿地",
        "{place}附近绿地被毁",
        ("{place}附近有人毁坏公共绿地种菜",),
        ("已清理绿地内种植的蔬菜并恢复绿化，对当事人进行了教育。",),
        weight=0.5,
    ),
    Report(
        _SAFETY + "消防通道堵塞",
        "消防通道",
        "{estate}消防通道堵塞",
        ("{estate}{building}前消防通道长期被私家车占用，一旦发生火灾消防车无法进入",),
        ("消防救援部门已会同物业对占用车辆进行清理，并在通道施划禁停标线。",),
        where="estate",
        weight=1.5,
    ),
    Report(
        _SAFETY + "电动车违规充电",
        "电动车",
        "{estate}电动车楼道充电",
        ("{estate}{building}{unit}有住户从楼上拉电线给电动车充电，楼道内还停放多辆电动车",),
        ("已督促物业清理楼道内电动车，并对飞线充电行为进行劝阻，小区已增设集中充电桩。",),
        where="estate",
        urgent=0.2,
    ),
    Report(
        _SAFETY + "高空坠物隐患",
        "高空坠物",
        "{estate}{building}高空坠物隐患",
        ("{estate}{building}外墙瓷砖脱落，有砸伤行人的危险",),
        ("已设置警戒区域，督促物业对外墙空鼓瓷砖进行排查清除。",),
        where="estate",
        urgent=0.3,
        hazard=True,
    ),
    Report(
        "公共安全/社会治安/治安隐患",
        "治安",
        "{place}深夜聚集存在治安隐患",
        ("{place}附近{when}深夜有人聚集饮酒喧哗，存在治安隐患",),
        ("属地派出所已加强夜间巡逻，对聚集人员进行了劝离。",),
        weight=0.7,
    ),
    Report(
        _SUPPLY + "停水",
        "停水",
        "{estate}停水",
        ("{estate}{when}突然停水，没有接到任何通知，居民生活受到影响",),
        ("经查为供水管道检修，已抢修完毕并恢复供水，已要求提前发布停水通知。",),
        where="estate",
        weight=1.5,
        urgent=0.3,
    ),
    Report(
        _SUPPLY + "水压不足",
        "水压",
        "{estate}{building}水压低",
        ("{estate}{building}高层住户{when}水压很低，早晚用水高峰几乎没水",),
        ("已对二次供水加压设备进行检修调试，水压已恢复正常。",),
        where="estate",
    ),
    Report(
        _SUPPLY + "水质异常",
        "自来水",
        "{estate}自来水发黄",
        ("{estate}自来水{when}发黄，还有异味",),
        ("已对小区管网进行冲洗并取样检测，水质检测合格。",),
        where="estate",
        weight=0.7,
    ),
    Report(
        _SUPPLY + "供水管道漏水",
        "供水管道",
        "{place}供水管道漏水",
        ("{place}{spot}地面有水冒出，疑似地下供水管道破裂",),
        ("已组织抢修，更换破损管段，恢复正常供水。",),
        sensor="{place}管网压力监测点报警，压力骤降，疑似管道爆裂",
        urgent=0.4,
        hazard=True,
    ),
    Report(
        _HEATING + "暖气不热",
        "暖气",
        "{estate}{building}暖气不热",
        (
            "{estate}{building}{unit}暖气{when}不热，室内温度只有14度左右",
            "{estate}{building}暖气片上热下凉，家中老人孩子受冻",
        ),
        ("供热企业已上门排查，为管道排气并清洗过滤器，室温已达到18度以上。",),
        where="estate",
        weight=2.0,
    ),
    Report(
        _HEATING + "供热管道漏水",
        "供热管道",
        "{place}供热管道漏水",
        ("{place}{spot}检查井往外冒热气，疑似供热管道漏水",),
        ("供热企业已抢修更换漏水管段，供热已恢复。",),
        urgent=0.3,
        weight=0.5,
        hazard=True,
    ),
    Report(
        _PROPERTY + "电梯故障",
        "电梯",
        "{estate}{building}电梯故障",
        (
            "{estate}{building}电梯{when}经常停运，老人上下楼非常困难",
            "{estate}{building}电梯运行中突然停梯，有人被困",
        ),
        ("已督促物业联系维保单位对电梯进行全面检修，现已恢复运行。",),
        where="estate",
        weight=1.5,
        urgent=0.2,
    ),
    Report(
        _PROPERTY + "小区环境卫生",
        "环境卫生",
        "{estate}环境卫生差",
        ("{estate}内垃圾堆放多日无人清理，物业不作为",),
        ("已约谈物业服务企业，督促其清理小区垃圾，加强日常保洁。",),
        where="estate",
    ),
    Report(
        _PROPERTY + "物业收费纠纷",
        "物业费",
        "{estate}物业费收费争议",
        ("{estate}物业公司擅自上调物业费，业主不认可",),
        ("已组织物业企业与业主代表沟通，物业公司已暂停上调并公示收费依据。",),
        where="estate",
        weight=0.7,
    ),
    Report(
        "物业管理/公共设施/楼道照明损坏",
        "楼道灯",
        "{estate}{building}楼道灯不亮",
        ("{estate}{building}{unit}楼道灯坏了很久，晚上上下楼很危险",),
        ("已督促物业更换楼道灯，现已恢复照明。",),
        where="estate",
        weight=0.7,
    ),
    Report(
        "教育卫生/教育/校外培训",
        "学科培训",
        "{shop}违规开展学科培训",
        ("{road}{n}号{shop}{when}违规开展学科类校外培训",),
        ("教育部门已联合执法，责令其停止违规培训行为。",),
        where="shop",
        shops=("培训机构", "托管班"),
        weight=0.5,
    ),
    Report(
        "教育卫生/教育/校园周边安全",
        "学校周边",
        "{place}学校周边车辆乱停",
        ("{place}附近学校门口上下学时段车辆乱停，学生过马路很危险",),
        ("已协调交警在上下学时段加强护学岗，并施划临时停车区。",),
        weight=0.5,
    ),
    Report(
        "教育卫生/医疗卫生/医疗服务",
        "就医",
        "{shop}就医服务问题",
        ("其在{road}{n}号{shop}就医时，医生诊疗不规范，多开药品",),
        ("卫生健康部门已调查核实，责令该机构整改，并向市民反馈处理结果。",),
        where="shop",
        shops=("诊所", "社区卫生服务站"),
        weight=0.5,
        grid=False,
    ),
    Report(
        "教育卫生/医疗卫生/病媒生物防制",
        "老鼠",
        "{estate}老鼠多",
        ("{estate}{when}老鼠很多，垃圾桶附近经常能看到",),
        ("已组织专业消杀人员对小区开展灭鼠作业，并督促物业清理卫生死角。",),
        where="estate",
        weight=0.5,
    ),
    Report(
        "劳动保障/劳动关系/拖欠工资",
        "拖欠",
        "{road}{site}拖欠农民工工资",
        ("{road}{site}拖欠二十多名农民工工资共计约三十万元，多次讨要未果",),
        ("人社部门已约谈施工企业，督促其足额支付拖欠工资，工人已领到工资。",),
        where="site",
        weight=1.2,
        grid=False,
    ),
    Report(
        "劳动保障/劳动关系/未签劳动合同",
        "劳动合同",
        "{shop}未签劳动合同",
        ("其在{road}{n}号{shop}工作，公司不与员工签订劳动合同",),
        ("劳动保障监察机构已责令用人单位限期与劳动者签订书面劳动合同。",),
        where="shop",
        shops=("物流公司", "餐饮公司"),
        weight=0.5,
        grid=False,
    ),
    Report(
        "劳动保障/社会保险/社保缴纳",
        "社保",
        "{shop}未缴纳社保",
        ("其入职{road}{n}号{shop}半年，公司一直未为其缴纳社保",),
        ("已责令用人单位依法为员工补缴社会保险费。",),
        where="shop",
        shops=("物流公司", "商贸公司"),
        weight=0.5,
        grid=False,
    ),
    Report(
        "社会事务/民政服务/养老服务",
        "独居老人",
        "{estate}独居老人需要帮助",
        ("{estate}{building}有一位独居老人行动不便，希望社区提供助餐等养老服务",),
        ("民政部门已会同社区上门走访，将老人纳入居家养老服务，每天安排助餐。",),
        where="estate",
        weight=0.5,
    ),
    Report(
        "社会事务/民政服务/困难救助",
        "困难家庭",
        "{estate}困难家庭求助",
        ("{estate}一户困难家庭因病致贫，生活困难，希望得到救助",),
        ("已指导当事人申请临时救助，并落实了救助金。",),
        where="estate",
        weight=0.4,
    ),
)


# ---------------------------------------------------------------- places


@dataclass(frozen=True)
class DistrictPlaces:
    """Real roads (and crossings of them) and landmarks of one district."""

    roads: tuple[str, ...]
    crossings: tuple[tuple[str, str], ...] = ()
    landmarks: tuple[str, ...] = ()


# fmt: off
PLACES: Mapping[str, DistrictPlaces] = {
    "370202": DistrictPlaces(  # 市南区
        (
            "香港中路", "香港西路", "东海西路", "东海中路", "山东路", "南京路", "福州南路", "燕儿岛路",
            "延安三路", "闽江路", "宁夏路", "江西路", "湛山一路", "中山路", "湖北路", "广西路", "莱阳路",
            "金湖路", "云南路", "珠海路", "澳门路", "江苏路", "大学路", "费县路", "漳州路",
        ),
        (
            ("香港中路", "山东路"), ("香港中路", "南京路"), ("香港中路", "福州南路"),
            ("香港中路", "燕儿岛路"), ("东海西路", "山东路"), ("延安三路", "闽江路"),
            ("闽江路", "南京路"), ("福州南路", "闽江路"), ("中山路", "湖北路"),
        ),
        ("五四广场", "栈桥", "第一海水浴场", "八大关景区", "中山公园", "太平角公园"),
    ),
    "370203": DistrictPlaces(  # 市北区
        (
            "台东一路", "台东三路", "台东八路", "辽宁路", "延安路", "延安二路", "威海路", "登州路",
            "长春路", "敦化路", "合肥路", "重庆南路", "鞍山路", "洛阳路", "抚顺路", "华阳路", "热河路",
            "萍乡路", "延吉路", "镇江路", "杭州路", "瑞昌路", "四流南路", "小港一路", "冠县路", "大沽路",
        ),
        (("台东一路", "威海路"), ("延吉路", "敦化路")),
        ("台东步行街", "青岛啤酒博物馆", "登州路啤酒街", "小港湾"),
    ),
    "370211": DistrictPlaces(  # 黄岛区（青岛西海岸新区）
        (
            "长江中路", "长江西路", "长江东路", "江山中路", "江山南路", "井冈山路", "峨眉山路", "珠江路",
            "香江路", "武夷山路", "昆仑山路", "太行山路", "嘉陵江路", "漓江西路", "紫金山路", "庐山路",
            "滨海大道", "黄浦江路", "衡山路", "灵山湾路",
        ),
        (("长江中路", "江山中路"), ("长江中路", "井冈山路"), ("长江西路", "峨眉山路")),
        ("金沙滩景区", "唐岛湾公园", "银沙滩"),
    ),
    "370212": DistrictPlaces(  # 崂山区
        (
            "海尔路", "松岭路", "香港东路", "苗岭路", "株洲路", "深圳路", "秦岭路", "银川东路", "辽阳东路",
            "仙霞岭路", "东海东路", "海口路", "云岭路", "同安路", "劲松七路", "青大一路",
        ),
        (("海尔路", "辽阳东路"), ("深圳路", "株洲路"), ("香港东路", "海口路")),
        ("石老人海水浴场", "崂山风景区", "青岛大剧院", "金家岭金融区"),
    ),
    "370213": DistrictPlaces(  # 李沧区
        (
            "京口路", "九水路", "九水东路", "书院路", "黑龙江中路", "永年路", "振华路", "金水路", "青山路",
            "巨峰路", "夏庄路", "虎山路", "文昌路", "峰山路", "兴华路", "东川路", "重庆中路", "君峰路",
        ),
        (("京口路", "九水路"), ("京口路", "书院路")),
        ("李村商圈", "青岛北站", "百果山森林公园", "李村河公园"),
    ),
    "370214": DistrictPlaces(  # 城阳区
        (
            "正阳路", "正阳中路", "长城路", "春阳路", "文阳路", "华城路", "重庆北路", "仙山东路",
            "仙山西路", "祥阳路", "兴阳路", "崇阳路", "青威路", "双元路", "明阳路",
        ),
        (("正阳路", "长城路"), ("正阳路", "文阳路"), ("春阳路", "重庆北路")),
        ("世纪公园", "白沙河畔"),
    ),
    "370215": DistrictPlaces(  # 即墨区
        (
            "鹤山路", "蓝鳌路", "烟青路", "振华街", "嵩山二路", "通济街", "华山二路", "文化路", "天山二路",
            "墨城路", "新兴路",
        ),
        (("鹤山路", "烟青路"), ("蓝鳌路", "鹤山路")),
        ("即墨古城", "即墨服装市场"),
    ),
    "370281": DistrictPlaces(  # 胶州市
        (
            "兰州东路", "兰州西路", "广州北路", "扬州西路", "郑州东路", "徐州路", "常州路", "杭州路",
            "北京东路",
        ),
        (("兰州东路", "广州北路"), ("郑州东路", "常州路")),
        ("少海风景区", "三里河公园"),
    ),
    "370283": DistrictPlaces(  # 平度市
        ("红旗路", "人民路", "杭州路", "扬州路", "常州路", "长江路", "青岛路", "苏州路"),
        (("红旗路", "人民路"),),
        ("现河公园", "大泽山风景区"),
    ),
    "370285": DistrictPlaces(  # 莱西市
        ("烟台路", "石岛路", "青岛路", "上海路", "长岛路", "黄海路", "威海路", "文化路"),
        (("烟台路", "石岛路"),),
        ("月湖公园", "莱西湖"),
    ),
}

SPOTS = (
    "东南角", "西北角", "东北角", "西南角", "北侧人行道", "南侧人行道", "东侧非机动车道", "西侧辅路",
    "公交站旁", "路口附近",
)
WHENS = ("每天夜间", "近一周以来", "连续多日", "每天凌晨", "每天早晚高峰", "这两天", "每到周末")
ESTATE_HEADS = (
    "海", "山", "福", "瑞", "鑫", "金", "华", "和", "嘉", "丽", "锦", "泰", "盛", "欣", "润", "颐", "景",
)
ESTATE_TAILS = ("园", "苑", "花园", "家园", "新村", "雅居", "名邸", "小区")
SHOP_HEADS = ("鑫源", "福来", "顺发", "好邻里", "佳惠", "聚福", "金海", "家和", "宏达", "万福", "永盛")
SITES = ("一处在建工地", "地铁施工工地", "一处住宅楼施工工地", "道路改造施工现场", "管网改造施工现场")
# fmt: on


# ---------------------------------------------------------------- channels and people

# The words each channel opens and closes a report with (keys are ``Channel`` values).
OPENINGS: Mapping[str, tuple[str, ...]] = {
    "hotline_12345": ("市民来电反映：", "市民致电12345热线反映：", "市民来电称："),
    "app": ("市民通过APP反映：", "市民通过随手拍上报："),
    "grid": ("网格员巡查发现：", "网格员日常巡查时发现："),
    "sensor": ("物联感知设备告警：",),
    "video_ai": ("视频智能分析发现：",),
}
CLOSINGS: Mapping[str, tuple[str, ...]] = {
    "hotline_12345": ("请尽快处理。", "请相关部门核实处理。", "希望尽快解决。", "市民要求尽快处理并回复。"),
    "app": ("请尽快处理。", "希望相关部门尽快解决。"),
    "grid": ("已拍照上报，请相关部门处置。", "请相关部门及时处置。"),
    "sensor": ("请及时核实处置。",),
    "video_ai": ("已截取视频画面，请及时核实处置。",),
}
DUPLICATE_OPENINGS = ("又有市民来电反映：", "另有市民反映同一问题：")
DUPLICATE_CLOSINGS = ("称问题仍未解决，请尽快处理。", "与此前反映的问题相同，请尽快处理。")

# fmt: off
# Common surnames of Qingdao (于, 姜, 曲, 隋 are more frequent here than nationally).
SURNAMES = (
    "王", "张", "刘", "李", "孙", "于", "赵", "杨", "徐", "姜", "宋", "高", "陈", "周", "董", "曲", "邵",
    "隋", "林", "韩",
)
GIVEN_NAMES = (
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "海燕", "志强", "晓东", "玉兰", "国华", "春燕", "文博",
    "子涵", "浩然", "雨桐", "建华", "玉梅", "德明", "海涛",
)
# Mobile prefixes of the three carriers (13x, 15x, 18x); eight random digits follow.
PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "180", "181", "182", "183", "185", "186", "187", "188", "189",
)
# fmt: on


# ---------------------------------------------------------------- what people write back

ACCEPT_NOTES = ("已签收，立即安排处置。", "已签收。", "已签收，转业务科室办理。")
START_NOTES = ("已安排人员赶赴现场。", "已转交执法中队办理。", "已通知维修班组前往处置。")
PROGRESS_NOTES = (
    "已派员到现场核实情况，正在组织处置。",
    "已联系相关责任单位，正在协调处理。",
    "现场已设置警示标志，待材料到位后施工。",
    "已约谈责任主体，要求限期整改。",
    "已电话联系市民了解详细情况，正在处置。",
)
CO_ACCEPT_NOTES = ("已签收协办任务。", "已签收，配合主办单位处置。")
CO_RESOLUTIONS = (
    "已配合主办单位完成现场处置。",
    "已按职责完成协办事项，并反馈主办单位。",
    "已派员到场配合，协办事项已完成。",
)
DISPATCH_NOTES = ("请按职责办理。", "请尽快核实处置。", "属地管理，请及时办理。")
REDISPATCH_NOTES = ("根据退单意见改派。", "经核实职责，改派办理。")
REOPEN_DISPATCH_NOTES = ("市民不满意，重新派单办理。", "回访不满意，请重新办理。")
EXTENSION_REASONS = (
    "需协调产权单位并办理占掘路手续，预计需延长处置时间。",
    "涉及多个部门联合执法，需延期办理。",
    "维修配件采购周期较长，申请延期。",
    "受连续降雨天气影响，施工无法进行，申请延期。",
)
EXTENSION_APPROVALS = ("同意延期，请按新时限办结。", "经审核同意延期。")
EXTENSION_REJECTIONS = ("延期理由不充分，请按原时限办结。",)
SUSPEND_REASONS = (
    "需等待产权单位确权，暂时挂起。",
    "联系不上当事人，待联系后继续办理。",
    "受恶劣天气影响无法施工，暂缓办理。",
)
RESUME_NOTES = ("产权单位已确认，恢复办理。", "已联系上当事人，恢复办理。", "天气好转，恢复施工。")
SUPERVISE_NOTES = (
    "该件已超期，请尽快办理并反馈结果。",
    "超期未办结，请说明原因并于今日内办结。",
    "市民多次来电催办，请加快办理。",
)
GRADE_REASONS = {
    "IV": (
        "现场核实影响范围较小，无人员伤亡，按一般突发事件处置。",
        "局部影响，属地已先期处置，定为Ⅳ级。",
    ),
    "III": (
        "影响周边多个小区，需多部门协同处置，报区指挥中心。",
        "道路中断超过两小时，有群众被困，定为Ⅲ级较大事件。",
    ),
}
MERGE_NOTES = ("一事多诉，合并办理。", "与已受理工单反映同一问题，合并处理。")
REOPEN_REASONS = (
    "市民回访不满意，反映问题仍未解决，要求重新办理。",
    "回访时市民称现场问题依然存在，重新办理。",
)
RATING_COMMENTS: Mapping[int, tuple[str, ...]] = {
    5: ("处理很及时，非常满意。", "问题已解决，感谢工作人员。", "回复及时，办事效率高。"),
    4: ("问题已解决，比较满意。", "处理得还可以，就是时间有点长。"),
    3: ("基本解决，希望以后加强管理。", "处理一般，担心问题还会反复。"),
    2: ("问题没有彻底解决。", "处理太慢了，不满意。"),
    1: ("根本没有解决，现场还是老样子。", "没有人联系我，也没见有人来处理。"),
}


@dataclass(frozen=True)
class ReturnStory:
    """Why a department hands an event back (退单), and where the dispatcher sends it next.

    ``redirect`` is a department code of ``seed``, or ``"@district"`` for the 城市管理局 of the
    event's district. A story only applies when its redirect differs from the returning department.
    """

    category_prefix: str
    reason: str
    redirect: str


DISTRICT_REDIRECT = "@district"

RETURN_STORIES = (
    ReturnStory(
        _MUNICIPAL + "井盖缺失或破损",
        "经现场核实，该井盖为燃气阀门井，产权属青岛能源集团，请改派。",
        "qd-nyjt",
    ),
    ReturnStory(
        _MUNICIPAL + "排水管道堵塞",
        "经核实为小区内部排水管道，不属于市政排水设施，建议由住建部门督促物业处理。",
        "qd-zjj",
    ),
    ReturnStory("城乡建设/市政设施", "该道路为市管道路，不在本区养护范围内，请改派市城市管理局。", "qd-cgj"),
    ReturnStory("城乡建设/市政设施", "该路段已移交属地管理，请改派所在区城市管理局。", DISTRICT_REDIRECT),
    ReturnStory(
        _CITYSCAPE + "占道经营",
        "该点位位于市管主干道，按职责分工由市城市管理局负责，申请退回。",
        "qd-cgj",
    ),
    ReturnStory("城市管理/市容环境", "经核实属于区管范围，请改派所在区城市管理局。", DISTRICT_REDIRECT),
    ReturnStory(
        _AIR + "餐饮油烟",
        "经核实该商户未办理营业执照，属无证经营，建议改派市场监管部门。",
        "qd-scjgj",
    ),
    ReturnStory(
        _NOISE + "社会生活噪声",
        "噪声来源为商户室外音响，属商业经营活动噪声，建议由城市管理部门处理。",
        DISTRICT_REDIRECT,
    ),
    ReturnStory(
        "供水供热/供水", "经查该小区为二次供水，由物业负责管理，建议改派住建部门督促物业。", "qd-zjj"
    ),
    ReturnStory(
        _TRAFFIC + "违章停车",
        "车辆停放于小区内部道路，不属于交警执法范围，建议由住建部门督促物业管理。",
        "qd-zjj",
    ),
)


# ---------------------------------------------------------------- the composer


@dataclass(frozen=True)
class Composed:
    """A report ready for intake: its title, description and the address text."""

    title: str
    description: str
    address: str


def compose(
    rng: random.Random,
    report: Report,
    channel: str,
    district_code: str,
    district_name: str,
    fixed: Mapping[str, str] | None = None,
) -> Composed:
    """Fill one template for one channel in one district; ``fixed`` slots (a road, a site…) are kept."""
    slots = _slots(rng, report, PLACES[district_code], fixed or {})
    body = _body(rng, report, channel).format_map(slots)
    description = rng.choice(OPENINGS[channel]) + body + "，" + rng.choice(CLOSINGS[channel])
    return Composed(
        title=report.title.format_map(slots),
        description=description,
        address=f"青岛市{district_name}{slots['address']}",
    )


def _body(rng: random.Random, report: Report, channel: str) -> str:
    if channel == "sensor" and report.sensor:
        return report.sensor
    if channel == "video_ai" and report.video:
        return report.video
    return rng.choice(report.details)


def _slots(
    rng: random.Random, report: Report, places: DistrictPlaces, fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    road = rng.choice(places.roads)
    n = str(rng.randint(1, 300))
    estate = rng.choice(ESTATE_HEADS) + rng.choice(ESTATE_HEADS) + rng.choice(ESTATE_TAILS)
    shop = rng.choice(SHOP_HEADS) + rng.choice(report.shops or ("商店",))
    site = rng.choice(SITES)
    slots = {
        "road": road,
        "n": n,
        "estate": estate,
        "building": f"{rng.randint(1, 30)}号楼",
        "unit": f"{rng.randint(1, 4)}单元",
        "shop": shop,
        "site": site,
        "spot": rng.choice(SPOTS),
        "when": rng.choice(WHENS),
    }
    slots.update(fixed or {})
    place, address = _place(rng, report, places, slots)
    slots["place"], slots["address"] = place, address
    slots.update(fixed or {})  # a fixed place (a landmark) wins over the one composed
    return slots


def _place(
    rng: random.Random, report: Report, places: DistrictPlaces, slots: Mapping[str, str]
) -> tuple[str, str]:
    """(the place as the title names it, the address text after the district name)."""
    road, n = slots["road"], slots["n"]
    if report.where == "estate":
        return slots["estate"], f"{road}{n}号{slots['estate']}"
    if report.where == "shop":
        return slots["shop"], f"{road}{n}号{slots['shop']}"
    if report.where == "site":
        return f"{road}{slots['site']}", f"{road}{slots['site']}"
    if report.where == "road":
        return road, road
    roll = rng.random()
    if places.crossings and roll < 0.45:
        a, b = rng.choice(places.crossings)
        return f"{a}与{b}交叉口", f"{a}与{b}交叉口"
    if places.landmarks and roll > 0.85:
        landmark = rng.choice(places.landmarks)
        return landmark, landmark
    return f"{road}{n}号", f"{road}{n}号"


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def phone_number(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def classify(title: str) -> Report | None:
    """The template a dispatcher recognises in a title (the longest keyword found), if any."""
    for report in _BY_KEYWORD_LENGTH:
        if report.keyword in title:
            return report
    return None


_BY_KEYWORD_LENGTH = sorted(REPORTS, key=lambda r: -len(r.keyword))
