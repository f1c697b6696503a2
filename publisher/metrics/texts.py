"""The report's words in the editors' language: Russian by default, English otherwise.

Every editor-facing text of the report goes through ``translator(language)``, keyed by its English
wording, so moving to the project's gettext catalogs is a change in this one module.
"""

from __future__ import annotations

from collections.abc import Callable

Translate = Callable[[str], str]

RU: dict[str, str] = {
    "Round-table report for {month}": "Отчёт к круглому столу: {month}",
    "Made {when}. Figures are the newest collected for each post; a post counts once per network.": (
        "Сформирован {when}. Цифры — последние собранные по каждому посту; пост считается отдельно в каждой сети."
    ),
    "{posts} posts on {networks} networks, {views} views, {interactions} likes, reposts and comments.": (
        "Постов: {posts} в сетях: {networks}; просмотров: {views}; лайков, репостов и комментариев: {interactions}."
    ),
    "Networks": "Сети",
    "Network": "Сеть",
    "Posts": "Посты",
    "Views": "Просмотры",
    "Views, previous month": "Просмотры месяцем ранее",
    "Change": "±",
    "Likes, reposts, comments": "Лайки, репосты, комм.",
    "Likes, reposts and comments: this month and the previous one": (
        "Лайки, репосты и комментарии: этот месяц и прошлый"
    ),
    "this month": "этот месяц",
    "previous month": "прошлый месяц",
    "Engagement": "Вовлечённость",
    "Engagement = (likes + reposts + comments) / views, over the posts whose network gives views.": (
        "Вовлечённость = (лайки + репосты + комментарии) / просмотры, по постам, для которых сеть даёт просмотры."
    ),
    "Rubrics": "Рубрики",
    "Rubric": "Рубрика",
    "no rubric": "без рубрики",
    "Median views": "Медиана просмотров",
    "Total views": "Всего просмотров",
    "Median views per rubric": "Медиана просмотров по рубрикам",
    "Authors": "Авторы",
    "Author": "Автор",
    "Total views per author": "Просмотры по авторам",
    "Mentions": "Упоминания",
    "Mentioned": "Кого упомянули",
    "With the mention": "С упоминанием",
    "Without it": "Без упоминания",
    "posts": "постов",
    "Ratio": "Отношение",
    "Median views of posts that mention a faculty or account, against posts of the same network and rubric that do not. The number of posts behind each median is beside it; a figure marked * rests on fewer than {few} posts and means little.": (
        "Медиана просмотров постов, где упомянут факультет или аккаунт, против постов той же сети и рубрики без "
        "упоминания. Рядом — сколько постов за каждой медианой; цифра со звёздочкой * опирается менее чем на "
        "{few} постов и мало что значит."
    ),
    "Median views with and without the mention": "Медиана просмотров с упоминанием и без",
    "Top 10 posts by views": "10 самых просматриваемых постов",
    "Bottom 10 posts by views": "10 наименее просматриваемых постов",
    "Post": "Пост",
    "Published": "Опубликован",
    "Link": "Ссылка",
    "open": "открыть",
    "Missing figures": "Где цифр нет",
    "Reason": "Причина",
    "Count": "Сколько",
    "No figures were collected for these posts yet.": "По этим постам цифры ещё не собраны.",
    "not collected yet": "ещё не собраны",
    "dry run: nothing was published": "пробный режим: ничего не публиковалось",
    "not available from the network": "сеть их не отдаёт",
    "some figures missing": "часть цифр недоступна",
    "No posts were published this month.": "В этом месяце постов не было.",
    "Nothing is missing.": "Всё на месте.",
    "Charts need the optional 'report' extra (matplotlib): pip install 'publisher[report]'.": (
        "Для графиков нужен дополнительный пакет report (matplotlib): pip install 'publisher[report]'."
    ),
    "Not enough data for a chart.": "Для графика мало данных.",
}

MONTHS = {
    "ru": (
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def translator(language: str) -> Translate:
    """The report's translation function: Russian unless ``language`` is English."""
    if language.lower().startswith("en"):
        return lambda text: text
    return lambda text: RU.get(text, text)


def lang_code(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ru"


def month_name(language: str, year: int, month: int) -> str:
    return f"{MONTHS[lang_code(language)][month - 1]} {year}"


def number(value: float | None, language: str, digits: int = 0) -> str:
    """A figure as editors read it: thin-space thousands and a decimal comma in Russian; "–" when missing."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if lang_code(language) == "ru":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def percent(value: float | None, language: str, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed and value > 0 else ""
    return sign + number(value * 100, language, 1) + "\u00a0%"
